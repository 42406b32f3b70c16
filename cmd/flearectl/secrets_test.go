package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
)

// The passwords the scan looks for: the one in force, the one a reload
// rotates to, and a wrong one that a target fails to authenticate with.
const (
	rotatedPassword = "rotated-Scan-pa55"
	wrongPassword   = "wrong-Scan-pa55"
	// The apps' passwords, checked by the proxy of target good: before and
	// after the rotation, and a wrong one an app tries.
	appPassword        = "app-Scan-pa55"
	appRotatedPassword = "app-rotated-Scan-pa55"
	appWrongPassword   = "app-wrong-Scan-pa55"
)

// secretsConfig writes a configuration with the passwords written literally
// (the worst case for leaks), readable by others, so serve warns about it.
func secretsConfig(t *testing.T, path string, good *fleartest.Server, goodPassword string, badPort int) string {
	t.Helper()
	appPw := appPassword
	if goodPassword == rotatedPassword {
		appPw = appRotatedPassword
	}
	data := fmt.Sprintf(`version: 1
defaults:
  username: %s
  timeouts: {connect: 1s, request: 1s, drain: 200ms}
  retry: {max_retries: 0, interval: 50ms}
targets:
  good:
    host: 127.0.0.1
    port: %d
    password: %q
    listen: {address: "127.0.0.1:0", users: [{username: web, password: %q}]}
  bad:
    host: 127.0.0.1
    port: %d
    password: %q
`, testUser, good.Port(), goodPassword, appPw, badPort, wrongPassword)
	if err := os.WriteFile(path+".tmp", []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path+".tmp", 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// apiGet reads a path of the admin API over its socket, as any HTTP client
// would.
func apiGet(t *testing.T, sock, path string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://admin" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status + "\n" + string(body)
}

// Every output of the CLI and the manager, with passwords in force, rotated,
// refused by a server, and misplaced in invalid files, is scanned for the
// passwords: logs at debug level in JSON, events, status in every format,
// plans, outcomes, error texts, and the admin API's replies.
func TestNoPasswordInAnyOutput(t *testing.T) {
	a := fleartest.NewServer(t, fleartest.Options{Users: map[string]string{testUser: testPassword}})
	b := fleartest.NewServer(t, fleartest.Options{Users: map[string]string{testUser: rotatedPassword}})
	dir := shortDir(t)
	env := baseEnv(dir)
	cfg := secretsConfig(t, filepath.Join(dir, "fleare.yaml"), a, testPassword, a.Port())
	p, sock := startServe(t, dir, cfg, "--log-format", "json", "--log-level", "debug")
	sockFlag := "--socket=" + sock
	var outputs []string
	run := func(args ...string) {
		t.Helper()
		r := flearectl(t, env, "", args...)
		if r.code == 2 {
			t.Fatalf("flearectl %s: %v", strings.Join(args, " "), r)
		}
		outputs = append(outputs, r.stdout, r.stderr)
	}

	// "bad" authenticates with a wrong password: errors in events, logs,
	// status.
	waitStatus(t, sock, "bad in error", func(st manager.Status) bool { return target(st, "bad").LastError != "" })
	// An app logs in to good's proxy, and another fails to: an auth event.
	st := waitStatus(t, sock, "good's proxy", func(st manager.Status) bool {
		return target(st, "good").Proxy != nil && target(st, "good").Proxy.Listening != ""
	})
	appLogin(t, target(st, "good").Proxy.Listening, appPassword, true)
	appLogin(t, target(st, "good").Proxy.Listening, appWrongPassword, false)

	// A rotation that moves "good" to server B: a replace whose plan and
	// event show the password change.
	rotated := secretsConfig(t, filepath.Join(dir, "rotated.yaml"), b, rotatedPassword, a.Port())
	run("diff", "-f", rotated, sockFlag)
	run("apply", "-f", rotated, "--dry-run", sockFlag)
	run("apply", "-f", rotated, "-o", "json", sockFlag) // refused: the file wins
	run("apply", "-f", rotated, "--force", sockFlag)

	// Invalid files with the passwords where they do not belong: nothing
	// may echo them.
	misplaced := filepath.Join(dir, "misplaced.yaml")
	content := fmt.Sprintf("version: 1\ntargets:\n  x:\n    host: 127.0.0.1\n    username: u\n    password: [%q]\n    passwrd: %q\n  y: {host: h, username: u, password: %q, password_file: /nonexistent}\n",
		testPassword, rotatedPassword, wrongPassword)
	if err := os.WriteFile(misplaced, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	run("apply", "-f", misplaced, "--force", sockFlag)
	run("validate", "-f", misplaced)
	run("check", "-f", cfg)
	run("check", "-f", rotated)

	// The watched file goes bad the same way, and then back to good.
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, sock, "rejected reload", func(st manager.Status) bool {
		return st.LastReload != nil && st.LastReload.Source == cfg && st.LastReload.Result == manager.ReloadRejected
	})
	secretsConfig(t, cfg, a, testPassword, a.Port())
	waitStatus(t, sock, "reload", func(st manager.Status) bool { return st.LastReload.Result != manager.ReloadRejected })

	for _, args := range [][]string{
		{"status"}, {"status", "-o", "json"}, {"status", "-o", "yaml"},
		{"events"}, {"events", "-o", "json"}, {"config"},
	} {
		run(append(args, sockFlag)...)
	}
	for _, path := range []string{"/v1/status", "/v1/config", "/v1/events"} {
		outputs = append(outputs, apiGet(t, sock, path))
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d", code)
	}
	logs := p.stderr.String()
	if !strings.Contains(logs, "readable by group or others") {
		t.Errorf("no warning about a world-readable file with a plaintext password:\n%s", logs)
	}
	outputs = append(outputs, p.stdout.String(), logs)

	// The scan means something only if the outputs saw the events.
	all := strings.Join(outputs, "\n")
	for _, want := range []string{"password changed", "authentication", "target.replaced", "config.rejected", `"level":"DEBUG"`,
		"listen.users changed", "proxy.auth_failed", `"clients": 1`} {
		if !strings.Contains(all, want) {
			t.Errorf("the outputs never mention %q: the scan does not cover it", want)
		}
	}
	for _, secret := range []string{testPassword, rotatedPassword, wrongPassword, appPassword, appRotatedPassword, appWrongPassword} {
		noSecret(t, secret, outputs...)
	}
}

// appLogin logs in to the proxy at addr as user web with password, as an
// app would, and checks whether that succeeded. A successful app stays
// connected until the test ends.
func appLogin(t *testing.T, addr, password string, ok bool) {
	t.Helper()
	host, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	c := fleare.NewClient(host, port, fleare.Options{PoolSize: 1, Username: "web", Password: password, MaxRetries: 0})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); (err == nil) != ok {
		t.Fatalf("app login through the proxy: %v (want success %v)", err, ok)
	}
}
