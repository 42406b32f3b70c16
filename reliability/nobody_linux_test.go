package reliability_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

const nobodyEnv = "FLEARE_RELIABILITY_CHILD"

// runAsNobody reports whether the test may go on in this process. As root,
// permission bits do not stop reads, so the test is run again in a child
// process as user nobody (uid 65534), and this process only checks that it
// passed.
func runAsNobody(t *testing.T) bool {
	t.Helper()
	if os.Getuid() != 0 {
		return true
	}
	runChildAsNobody(t)
	return false
}

// runChildAsNobody runs the current test again, as uid and gid 65534, from a
// copy of the test binary that user can execute, and fails if it fails.
func runChildAsNobody(t *testing.T) {
	t.Helper()
	if os.Getenv(nobodyEnv) != "" {
		t.Fatal("the child process is still root")
	}
	dir, err := os.MkdirTemp("", "fleare-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "reliability.test")
	copyFile(t, os.Args[0], bin)

	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), nobodyEnv+"=1", "TMPDIR=/tmp", "HOME=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the test as user nobody failed: %v\n%s", err, out)
	}
	t.Logf("as user nobody:\n%s", out)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
