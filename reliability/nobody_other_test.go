//go:build !linux

package reliability_test

import (
	"os"
	"testing"
)

// runAsNobody reports whether the test may go on: as root, permission bits
// do not stop reads, and dropping root for a child process is done for Linux
// only.
func runAsNobody(t *testing.T) bool {
	t.Helper()
	if os.Getuid() != 0 {
		return true
	}
	t.Skip("as root, needs Linux to run as another user")
	return false
}
