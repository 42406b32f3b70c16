package safefile

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestReadsRegularFiles(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", "x", "hello\n", strings.Repeat("y", 100_000)} {
		path := filepath.Join(dir, "f")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path, 100_000)
		if err != nil || string(got) != content {
			t.Fatalf("ReadFile of %d bytes: %d bytes, %v", len(content), len(got), err)
		}
		// Through a symbolic link too.
		link := filepath.Join(dir, "link")
		_ = os.Remove(link)
		if err := os.Symlink(path, link); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadFile(link, 100_000); err != nil || string(got) != content {
			t.Fatalf("ReadFile through a link: %d bytes, %v", len(got), err)
		}
	}
}

func TestRefusesLargeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path, 10); err != nil {
		t.Errorf("a file at the limit: %v", err)
	}
	_, err := ReadFile(path, 9)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) {
		t.Errorf("a file over the limit: %v", err)
	}
	if strings.Contains(err.Error(), "0123") {
		t.Errorf("the error holds content: %v", err)
	}
}

// A file whose reported size says nothing (as in /proc) is bounded while
// it is read.
func TestLimitEnforcedWhileReading(t *testing.T) {
	fi, err := os.Stat("/proc/self/environ")
	if err != nil || fi.Size() != 0 {
		t.Skip("needs a /proc file that reports size 0")
	}
	if _, err := ReadFile("/proc/self/environ", 1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a /proc file over the limit: %v", err)
	}
}

func TestRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cases := map[string]string{
		"directory": dir,
		"socket":    sock,
		"device":    os.DevNull,
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		link := filepath.Join(dir, "zero")
		if err := os.Symlink("/dev/zero", link); err != nil {
			t.Fatal(err)
		}
		cases["link to /dev/zero"] = link
	}
	if fifo := mkfifo(t, dir); fifo != "" {
		cases["named pipe"] = fifo
		link := filepath.Join(dir, "fifo-link")
		if err := os.Symlink(fifo, link); err != nil {
			t.Fatal(err)
		}
		cases["link to a named pipe"] = link
	}
	for name, path := range cases {
		_, err := ReadFile(path, 1<<20)
		var pe *fs.PathError
		if !errors.Is(err, ErrNotRegular) || !errors.As(err, &pe) || pe.Path != path {
			t.Errorf("%s: %v, want ErrNotRegular naming the path", name, err)
		}
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none"), 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

func TestKind(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		0:                 "regular file",
		fs.ModeDir:        "directory",
		fs.ModeNamedPipe:  "named pipe",
		fs.ModeSocket:     "socket",
		fs.ModeDevice:     "device",
		fs.ModeSymlink:    "symbolic link",
		fs.ModeIrregular:  "special file",
		fs.ModeCharDevice: "special file",
	} {
		if got := Kind(m); got != want {
			t.Errorf("Kind(%v) = %q, want %q", m, got, want)
		}
	}
}
