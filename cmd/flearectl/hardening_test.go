//go:build unix

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/manager"
)

// mkfifo makes a named pipe at path, which nobody writes to: reading it
// the ordinary way blocks for good.
func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// quick runs flearectl to its end, which must come within 30 s: long
// enough for a loaded machine, and far short of a hang.
func quick(t *testing.T, env []string, args ...string) result {
	t.Helper()
	p := start(t, env, "", args...)
	code := p.wait(t, 30*time.Second)
	return result{code: code, stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// A named pipe wherever a file is read is an error at once: validate,
// apply's -f, serve's -f, a password_file at start, --token-file.
func TestNamedPipesAreRefused(t *testing.T) {
	dir := shortDir(t)
	env := baseEnv(dir)
	fifo := mkfifo(t, filepath.Join(dir, "fifo"))
	const refusal = "is a named pipe, not a regular file"

	if r := quick(t, env, "validate", "-f", fifo); r.code != 1 || !strings.Contains(r.stdout, refusal) {
		t.Errorf("validate -f FIFO: %v", r)
	}
	if r := quick(t, env, "apply", "-f", fifo, "--socket", filepath.Join(dir, "none.sock")); r.code != 2 || !strings.Contains(r.stderr, refusal) {
		t.Errorf("apply -f FIFO: %v", r)
	}
	if r := quick(t, env, "serve", "-f", fifo, "--socket", filepath.Join(dir, "s.sock")); r.code != 1 || !strings.Contains(r.stderr, refusal) {
		t.Errorf("serve -f FIFO: %v", r)
	}
	cfg := filepath.Join(dir, "pf.yaml")
	data := fmt.Sprintf("version: 1\ntargets:\n  a: {host: 127.0.0.1, port: %d, username: u, password_file: fifo}\n", closedPort(t))
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := quick(t, env, "validate", "-f", cfg); r.code != 1 || !strings.Contains(r.stdout, "password_file: \"fifo\" cannot be read: "+refusal) {
		t.Errorf("validate, password_file a FIFO: %v", r)
	}
	if r := quick(t, env, "serve", "-f", cfg, "--socket", filepath.Join(dir, "s.sock")); r.code != 1 || !strings.Contains(r.stderr, refusal) {
		t.Errorf("serve, password_file a FIFO: %v", r)
	}
	good := writeConfig(t, filepath.Join(dir, "good.yaml"))
	r := quick(t, baseEnv(dir, passwordEnv+"=x"), "serve", "-f", good, "--socket", filepath.Join(dir, "s.sock"),
		"--admin-addr", "127.0.0.1:0", "--token-file", fifo)
	if r.code != 2 || !strings.Contains(r.stderr, "--token-file: admin: read token file: open "+fifo+": "+refusal) {
		t.Errorf("serve --token-file FIFO: %v", r)
	}
	r = quick(t, env, "status", "--admin-addr", "127.0.0.1:1", "--token-file", fifo)
	if r.code != 2 || !strings.Contains(r.stderr, refusal) {
		t.Errorf("status --token-file FIFO: %v", r)
	}
}

// The watched file swapped for a named pipe, then SIGHUP: the manager
// rejects it, goes on applying later edits, and exits on SIGTERM.
func TestServeSurvivesWatchedFileSwappedForAPipe(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	p, sock := startServe(t, dir, cfg)
	tmp := mkfifo(t, filepath.Join(dir, "swap"))
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, sock, "the pipe rejected", func(st manager.Status) bool {
		return st.LastReload.Result == manager.ReloadRejected && strings.Contains(strings.Join(st.LastReload.Errors, "\n"), "named pipe")
	})
	p.signal(t, syscall.SIGHUP)
	writeConfig(t, cfg, targetYAML{"cache", srv.Port(), 2})
	waitStatus(t, sock, "a later edit applied", func(st manager.Status) bool { return target(st, "cache").Desired == 2 })
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d\n%s", code, p.stderr.String())
	}
}

// Without XDG_RUNTIME_DIR the default socket is in a directory of the
// user's own (mode 0700), never in the shared temporary directory.
func TestDefaultSocketIsPrivate(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	env := append(baseEnv(dir, passwordEnv+"="+testPassword), "XDG_RUNTIME_DIR=", "TMPDIR="+tmp)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	p := start(t, env, "", "serve", "-f", cfg, "--shutdown-timeout", "5s")
	private := filepath.Join(tmp, fmt.Sprintf("fleare-manager-%d", os.Geteuid()))
	sock := filepath.Join(private, "fleare-manager.sock")
	waitFor(t, "the default socket", func() bool { _, err := os.Lstat(sock); return err == nil })
	if fi, err := os.Lstat(private); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("the socket's directory: %v %v, want mode 0700", fi, err)
	}
	if r := quick(t, env, "status"); r.code != 0 || !strings.Contains(r.stdout, "cache") {
		t.Errorf("status at the default socket: %v", r)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d\n%s", code, p.stderr.String())
	}
}

// Another user who makes the default directory first, or a socket where
// the client looks, gets nothing: serve refuses the directory, and the
// client sends nothing to the socket. Needs root to make files another
// user's; CI runs as root.
func TestSquattedSocketGetsNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a file another user's (CI runs as root)")
	}
	dir := shortDir(t)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	env := append(baseEnv(dir, passwordEnv+"="+testPassword), "XDG_RUNTIME_DIR=", "TMPDIR="+tmp)
	private := filepath.Join(tmp, fmt.Sprintf("fleare-manager-%d", os.Geteuid()))
	if err := os.Mkdir(private, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(private, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"))
	r := quick(t, env, "serve", "-f", cfg)
	if r.code == 0 || !strings.Contains(r.stderr, "belongs to uid 65534") {
		t.Errorf("serve with the default directory squatted: %v", r)
	}

	// The squatter listens in its directory, at the socket's name.
	sock := filepath.Join(private, "fleare-manager.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Lchown(sock, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			got.Add(1)
			c.Close()
		}
	}()
	r = quick(t, env, "apply", "-f", cfg)
	if r.code != 2 || !strings.Contains(r.stderr, "refusing the socket "+sock) {
		t.Errorf("apply to a squatted socket: %v", r)
	}
	if n := got.Load(); n != 0 {
		t.Errorf("the squatter got %d connection(s)", n)
	}
}

// Configurations sent to the API read no file outside --secrets-dir (the
// watched file's directory by default) and no variable not allowed with
// --api-env or --api-env-prefix; values from variables are never quoted.
func TestAPITrustModel(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	const secret = "Manager-Env-Secret-31"
	sock := filepath.Join(dir, "admin.sock")
	p := start(t, baseEnv(dir, passwordEnv+"="+testPassword, "MANAGER_SECRET="+secret, "FLEARE_SIZE=2"), "",
		"serve", "-f", cfg, "--socket", sock, "--api-env", passwordEnv, "--api-env-prefix", "FLEARE_", "--shutdown-timeout", "5s")
	waitStatus(t, sock, "the file applied", func(st manager.Status) bool { return st.LastReload != nil })
	env := baseEnv(dir)
	send := func(body string) result {
		t.Helper()
		f := filepath.Join(dir, "sent.yaml")
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		r := quick(t, env, "diff", "-f", f, "--socket", sock)
		noSecret(t, secret, r.stdout, r.stderr)
		return r
	}
	head := fmt.Sprintf("version: 1\ntargets:\n  x:\n    host: 127.0.0.1\n    port: %d\n", srv.Port())
	for _, tc := range []struct{ body, want string }{
		{head + "    username: u\n    password_file: /proc/self/environ\n", "is outside the directories password files may be read from here (" + dir + ")"},
		{head + "    username: ${MANAGER_SECRET}\n", "variable MANAGER_SECRET is not allowed in this configuration"},
		{head + "    username: u\n    password: ${MANAGER_SECRET}\n", "flearectl serve --api-env"},
		{head + "    pool: {size: \"${FLEARECTL_TEST_PASSWORD}\"}\n", `pool.size: the value of "${FLEARECTL_TEST_PASSWORD}" is not an integer`},
	} {
		if r := send(tc.body); r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("diff of\n%s: %v\nwant %q", tc.body, r, tc.want)
		}
	}
	if r := send(head + "    pool: {size: \"${FLEARE_SIZE}\"}\n"); r.code != 1 || !strings.Contains(r.stdout, "create x") {
		t.Errorf("a variable allowed by --api-env-prefix: %v", r)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d", code)
	}
	noSecret(t, secret, p.stdout.String(), p.stderr.String())
	noSecret(t, testPassword, p.stdout.String(), p.stderr.String())
}

// validate quotes no value that came from a variable, whatever field it
// lands in.
func TestValidateMasksVariables(t *testing.T) {
	dir := shortDir(t)
	f := filepath.Join(dir, "c.yaml")
	body := "version: 1\ntargets:\n  a:\n    host: \"${PW}:80\"\n    port: ${PW}\n    timeouts: {connect: \"${PW}\"}\n"
	if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r := quick(t, baseEnv(dir, "PW=Validate-Pw-5"), "validate", "-f", f)
	if r.code != 1 || strings.Count(r.stdout, `the value of "${PW}`) != 3 {
		t.Errorf("validate: %v", r)
	}
	noSecret(t, "Validate-Pw-5", r.stdout, r.stderr)
}

// validate places YAML syntax errors where they are, refuses hosts that are
// not names and ports that are not decimal, and reads leading zeros as
// decimal.
func TestValidateSmallerDefects(t *testing.T) {
	dir := shortDir(t)
	for _, tc := range []struct{ body, want string }{
		{"version: 1\ntargets:\n  a:\n    pool: [1, 2\n    host: x\n", `:4:11: YAML syntax error: '[' is not closed`},
		{"version: 1\ntargets:\n  a:\n\thost: x\n", ":4:1: YAML syntax error: found character that cannot start any token"},
		{"version: 1\ntargets:\n  a:\n    host: caf\xe9\n", ":4:14: invalid UTF-8 (byte 0xe9)"},
		{"version: 1\ntargets:\n  a: {host: ...}\n", `:3:13: target "a": host: "..." is not a host name`},
		{"version: 1\ntargets:\n  a: {host: -a}\n", `:3:13: target "a": host: "-a" is not a host name`},
		{"version: 1\ntargets:\n  a: {host: h, port: 0x2400}\n", `port: "0x2400" is not a decimal integer`},
		{"version: 1\ntargets:\n  a: {host: h, port: 010}\n", "ok (1 target)"},
	} {
		f := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(f, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := quick(t, baseEnv(dir), "validate", "-f", f); !strings.Contains(r.stdout, tc.want) {
			t.Errorf("validate of %q: %v\nwant %q", tc.body, r, tc.want)
		}
	}
}

// A lower-case bearer scheme is accepted (RFC 7235), and a client refused
// its token is disconnected after its 401.
func TestServeBearerScheme(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	p, addr := serveTCP(t, dir, cfg, "the-token")
	for _, auth := range []string{"bearer the-token", "BEARER the-token"} {
		if got := get(t, "http://"+addr+"/v1/status", auth); got != 200 {
			t.Errorf("Authorization %q: %d", auth, got)
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 401 || !resp.Close {
		t.Fatalf("no token: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if _, err := br.ReadByte(); err == nil {
		t.Error("the connection stays open after its 401")
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d", code)
	}
}

// apply gives up at --timeout when the manager does not answer, exit 2.
func TestApplyTimeout(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, "hung.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c) // never answered
		}
	}()
	cfg := writeConfig(t, filepath.Join(dir, "c.yaml"))
	r := quick(t, baseEnv(dir), "apply", "-f", cfg, "--socket", sock, "--timeout", "1s")
	if r.code != 2 || !strings.Contains(r.stderr, "no reply within --timeout 1s") {
		t.Errorf("apply to a manager that never answers: %v", r)
	}
	ln.Close()
	<-accepted
}

// A file with thousands of problems gets a bounded answer: apply prints
// the first spec.MaxProblems and a count, serve logs the rejection once,
// and the event history stays small.
func TestRejectionOutputIsBounded(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	p, sock := startServe(t, dir, cfg)
	const n = 20_000
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ntargets:\n  a:\n    host: 127.0.0.1\n")
	for i := range n {
		fmt.Fprintf(&b, "    unknown_%d: 1\n", i)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := quick(t, baseEnv(dir), "apply", "-f", bad, "--force", "--socket", sock)
		if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("configuration rejected (%d problem(s))", n)) ||
			!strings.Contains(r.stderr, fmt.Sprintf("%d more problem(s) not listed", n-100)) {
			t.Fatalf("apply: exit %d\n%.1000s", r.code, r.stderr)
		}
		if lines := strings.Count(r.stderr, "\n"); lines > 110 {
			t.Errorf("apply printed %d lines", lines)
		}
	}
	r := quick(t, baseEnv(dir), "events", "-o", "json", "--socket", sock)
	if len(r.stdout) > 256<<10 {
		t.Errorf("the event history holds %d bytes after three rejections", len(r.stdout))
	}
	if c := strings.Count(p.stderr.String(), "unknown_0:"); c != 3 {
		t.Errorf("three rejections logged their first problem %d times, want 3", c)
	}
	if size := len(p.stderr.String()); size > 256<<10 {
		t.Errorf("serve logged %d bytes", size)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d", code)
	}
}

// The watchdog ends the process once the shutdown has outlived its bound
// after the signal, and never when disarmed in time.
func TestWatchdog(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, signal := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	disarm := watchdog(ctx, logger, 10*time.Millisecond, func(code int) { exited <- code })
	defer disarm()
	signal()
	select {
	case code := <-exited:
		if code != exitFail {
			t.Errorf("exit %d, want %d", code, exitFail)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the watchdog did not end a stuck shutdown")
	}

	ctx, signal = context.WithCancel(context.Background())
	var called atomic.Bool
	disarm = watchdog(ctx, logger, time.Hour, func(int) { called.Store(true) })
	signal()
	disarm() // the shutdown finished
	ctx, signal = context.WithCancel(context.Background())
	disarm = watchdog(ctx, logger, time.Nanosecond, func(int) { called.Store(true) })
	disarm() // serve returned before any signal
	signal()
	if called.Load() {
		t.Error("a disarmed watchdog ended the process")
	}
}

// validate, check and serve at start list the first spec.MaxProblems of a
// file with more, then a line counting the rest, and give the total.
func TestOfflineRejectionCountsTheRest(t *testing.T) {
	dir := shortDir(t)
	const n = 150
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ntargets:\n  a:\n    host: 127.0.0.1\n")
	for i := range n {
		fmt.Fprintf(&b, "    unknown_%d: 1\n", i)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rest := fmt.Sprintf("%d more problem(s) not listed", n-100)
	r := quick(t, baseEnv(dir), "validate", "-f", bad)
	if r.code != 1 || !strings.Contains(r.stdout, "unknown_99:") || strings.Contains(r.stdout, "unknown_100:") ||
		!strings.Contains(r.stdout, rest) {
		t.Errorf("validate: exit %d\n%.500s...%s", r.code, r.stdout, r.stdout[max(0, len(r.stdout)-300):])
	}
	for _, args := range [][]string{
		{"check", "-f", bad},
		{"serve", "-f", bad, "--socket", filepath.Join(dir, "s.sock")},
	} {
		r := quick(t, baseEnv(dir), args...)
		if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("is invalid (%d problems)", n)) ||
			!strings.Contains(r.stderr, rest) || strings.Contains(r.stderr, "unknown_100:") {
			t.Errorf("%s: exit %d\n%.500s...%s", args[0], r.code, r.stderr, r.stderr[max(0, len(r.stderr)-300):])
		}
	}
}
