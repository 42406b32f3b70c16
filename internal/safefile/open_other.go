//go:build !unix

package safefile

import "os"

// openNonblocking opens path for reading. Outside unix there are no named
// pipes in the file system to block on.
func openNonblocking(path string) (*os.File, error) { return os.Open(path) }
