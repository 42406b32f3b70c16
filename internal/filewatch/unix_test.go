//go:build unix

package filewatch

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestUnreadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "v1")
	mustDo(t, os.Chmod(path, 0))
	if _, err := os.ReadFile(path); err == nil {
		// Root (CAP_DAC_OVERRIDE) reads a mode-000 file, so there is no
		// permission error to observe. TestReadErrorDeliveredOnceThenRecovers
		// covers the same error-then-recovery path in a way root cannot read.
		t.Skip("skipped: running as root, chmod 000 does not make the file unreadable")
	}
	h := start(t, path, Options{})
	h.nextErr(fs.ErrPermission)
	mustDo(t, os.Chmod(path, 0o644))
	h.nextData("v1") // the same content as before the error is delivered again
}

// A named pipe is refused rather than opened, so reading it cannot hang.
func TestNamedPipeIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	mustDo(t, syscall.Mkfifo(path, 0o644))
	h := start(t, path, Options{})
	h.nextErr(ErrNotRegular)
	mustDo(t, os.Remove(path))
	write(t, path, "v1")
	h.until("v1")
}
