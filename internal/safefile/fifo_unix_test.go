//go:build unix

package safefile

import (
	"path/filepath"
	"syscall"
	"testing"
)

// mkfifo makes a named pipe in dir and returns its path.
func mkfifo(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A named pipe opened without blocking is seen for what it is after the
// open, the case of a path swapped between the check and the open.
func TestOpenedPipeIsRefused(t *testing.T) {
	f, err := openNonblocking(mkfifo(t, t.TempDir()))
	if err != nil {
		t.Fatalf("open a named pipe nobody writes to: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().IsRegular() || Kind(fi.Mode()) != "named pipe" {
		t.Errorf("an opened pipe looks like a %s", Kind(fi.Mode()))
	}
	if _, err := readLimited(f, "p", 0, 10); err != nil {
		t.Errorf("reading an empty pipe without blocking: %v", err)
	}
}
