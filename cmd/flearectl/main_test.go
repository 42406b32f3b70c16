package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/internal/poll"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// binary is the flearectl built for the tests, which run it as a user
// would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flearectl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "flearectl")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// shortDir returns a new temporary directory with a short path (unix
// socket paths are limited to about 100 bytes), removed when the test ends.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "flc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// baseEnv is the environment commands run with: the test's, without the
// variables flearectl reads, plus XDG_RUNTIME_DIR=runtime and extra.
func baseEnv(runtime string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "XDG_RUNTIME_DIR", "GORACE", tokenEnv, "FLEARE_PASSWORD", "SESSIONS_PORT":
			continue
		}
		if strings.HasPrefix(name, "FLEARE_UNSET_") {
			continue
		}
		env = append(env, kv)
	}
	// A race-enabled binary waits a second at exit for late reports
	// unless told not to; a race it finds makes it exit 66.
	env = append(env, "GORACE=atexit_sleep_ms=0", "XDG_RUNTIME_DIR="+runtime)
	return append(env, extra...)
}

// proc is a flearectl process.
type proc struct {
	cmd    *exec.Cmd
	stdout testkit.Buffer
	stderr testkit.Buffer
	done   chan struct{} // closed when it has exited
	code   int           // exit code, once done
}

// start starts flearectl with args in env and dir (the test's if ""); it is
// killed, if still running, when the test ends.
func start(t *testing.T, env []string, dir string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	p.cmd.Env, p.cmd.Dir = env, dir
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
			p.code = -2
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit code (-1 when a
// signal killed it).
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("flearectl %s still running after %s\nstdout:\n%s\nstderr:\n%s",
			strings.Join(p.cmd.Args[1:], " "), timeout, p.stdout.String(), p.stderr.String())
		return 0
	}
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// result is what a command that ran to its end printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// flearectl runs flearectl with args to its end.
func flearectl(t *testing.T, env []string, dir string, args ...string) result {
	t.Helper()
	p := start(t, env, dir, args...)
	code := p.wait(t, time.Minute)
	return result{code: code, stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// expect runs flearectl and checks its exit code.
func expect(t *testing.T, code int, env []string, args ...string) result {
	t.Helper()
	r := flearectl(t, env, "", args...)
	if r.code != code {
		t.Fatalf("flearectl %s: want exit %d, got %v", strings.Join(args, " "), code, r)
	}
	return r
}

// waitFor polls cond until it holds or poll.Timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, what, cond)
}

// status asks the manager behind sock for its status, in this process.
func status(t *testing.T, sock string) (manager.Status, error) {
	t.Helper()
	c := admin.NewClient(admin.ClientOptions{Socket: sock})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Status(ctx)
}

// waitStatus polls the manager behind sock until cond holds for its status.
func waitStatus(t *testing.T, sock, what string, cond func(manager.Status) bool) manager.Status {
	t.Helper()
	var st manager.Status
	waitFor(t, what, func() bool {
		var err error
		st, err = status(t, sock)
		return err == nil && cond(st)
	})
	return st
}

// target returns the named target of st.
func target(st manager.Status, name string) manager.TargetStatus {
	for _, ts := range st.Targets {
		if ts.Name == name {
			return ts
		}
	}
	return manager.TargetStatus{}
}

// noSecret fails the test if any text holds secret.
func noSecret(t *testing.T, secret string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("the password appears in output:\n%s", s)
		}
	}
}
