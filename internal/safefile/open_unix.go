//go:build unix

package safefile

import (
	"os"
	"syscall"
)

// openNonblocking opens path for reading without waiting for a writer (a
// named pipe) or a carrier (a terminal), and without making a terminal the
// process's controlling one.
func openNonblocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}
