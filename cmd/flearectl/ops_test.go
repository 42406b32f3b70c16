package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/fleare-manager/fleare-manager/manager"
)

// runIn runs flearectl with args and stdin as its standard input.
func runIn(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// startServeNoFile runs flearectl serve without -f, and waits until its
// admin API answers.
func startServeNoFile(t *testing.T, dir string, extra ...string) (*proc, string) {
	t.Helper()
	sock := filepath.Join(dir, "admin.sock")
	args := append([]string{"serve", "--socket", sock, "--shutdown-timeout", "5s", "--api-env", passwordEnv}, extra...)
	p := start(t, baseEnv(dir, passwordEnv+"="+testPassword), "", args...)
	waitFor(t, "serve to answer", func() bool {
		select {
		case <-p.done:
			t.Fatalf("serve exited %d\nstderr:\n%s", p.code, p.stderr.String())
		default:
		}
		_, err := status(t, sock)
		return err == nil
	})
	return p, sock
}

// Without -f, serve takes its configuration from apply alone (standard
// input included); status NAME, --check and wait answer as scripts need.
func TestServeWithoutFileStatusAndWait(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	env := baseEnv(dir)
	p, sock := startServeNoFile(t, dir)
	sockFlag := "--socket=" + sock
	run := func(code int, args ...string) result {
		t.Helper()
		return expect(t, code, env, append(args, sockFlag)...)
	}

	if r := run(0, "status"); !strings.Contains(r.stdout, "Config:      none yet") {
		t.Errorf("status before any configuration: %v", r)
	}
	r := run(1, "wait", "--for=connected", "--timeout", "3s")
	if !strings.Contains(r.stderr, "not connected in time") || !strings.Contains(r.stderr, "no configuration is in force yet") {
		t.Errorf("wait with no configuration: %v", r)
	}

	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 2}, targetYAML{"sessions", srv.Port(), 1})
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r = runIn(t, env, string(data), "apply", "-f", "-", sockFlag)
	if r.code != 0 || !strings.Contains(r.stdout, "Outcome (generation 1)") {
		t.Fatalf("apply -f - with serve following no file: %v", r)
	}
	r = run(0, "wait", "--for=ready", "--timeout", "30s")
	if !strings.Contains(r.stdout, "ready: cache, sessions") {
		t.Errorf("wait --for=ready: %v", r)
	}
	r = run(0, "status")
	if !strings.Contains(r.stdout, "applied through the admin API (not kept across a restart)") || !strings.Contains(r.stdout, "Hash:") {
		t.Errorf("status after an apply from stdin: %v", r)
	}

	r = run(0, "status", "cache")
	if !strings.Contains(r.stdout, "cache ") || strings.Contains(r.stdout, "sessions") || strings.Contains(r.stdout, "Config:") {
		t.Errorf("status cache: %v", r)
	}
	var st manager.Status
	if err := json.Unmarshal([]byte(run(0, "status", "sessions", "-o", "json").stdout), &st); err != nil ||
		len(st.Targets) != 1 || st.Targets[0].Name != "sessions" {
		t.Errorf("status sessions -o json: %v %+v", err, st)
	}
	r = run(1, "status", "cahce")
	if !strings.Contains(r.stderr, `no target "cahce"`) || !strings.Contains(r.stderr, `did you mean "cache"?`) ||
		strings.Contains(r.stderr, "files go after -f") {
		t.Errorf("status of an unknown target: %v", r)
	}
	run(0, "status", "--check")
	run(2, "status", "--check", "--watch")

	// Preconditions: a stale generation or hash is refused, the fresh one
	// goes through.
	st, _ = status(t, sock)
	down := writeConfig(t, filepath.Join(dir, "down.yaml"),
		targetYAML{"cache", srv.Port(), 2}, targetYAML{"sessions", srv.Port(), 1}, targetYAML{"down", closedPort(t), 1})
	r = run(1, "apply", "-f", down, "--expect-generation", "7")
	if !strings.Contains(r.stderr, "generation 1 is in force, not 7") || !strings.Contains(r.stderr, "flearectl status") {
		t.Errorf("apply with a stale generation: %v", r)
	}
	run(1, "apply", "-f", down, "--expect-hash", strings.Repeat("0", 64))
	run(2, "apply", "-f", down, "--expect-generation", "-1")
	r = run(1, "apply", "-f", down, "--expect-generation", "1", "--expect-hash", st.Hash, "-o", "json")
	var res struct {
		Generation uint64 `json:"generation"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Generation != 2 {
		t.Errorf("apply with fresh preconditions and a target down: %v %v", err, r)
	}

	// A target that cannot connect: --check and wait say so.
	waitStatus(t, sock, "down in error", func(st manager.Status) bool { return target(st, "down").State.String() == "error" })
	r = run(1, "status", "--check")
	if !strings.Contains(r.stderr, "1 target(s) in state error: down") {
		t.Errorf("status --check with a target in error: %v", r)
	}
	run(0, "status", "cache", "--check")
	r = run(1, "wait", "down", "--for=connected", "--timeout", "3s")
	if !strings.Contains(r.stderr, "down: state error; last error:") {
		t.Errorf("wait for a target that cannot connect: %v", r)
	}
	run(0, "wait", "cache", "sessions", "--for=connected")
	run(2, "wait", "--for=happy")
	run(2, "wait")

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d\n%s", code, p.stderr.String())
	}
	noSecret(t, testPassword, p.stderr.String())
}

// wait waits for a manager that is still starting.
func TestWaitForAManagerStarting(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	sock := filepath.Join(dir, "admin.sock")
	w := start(t, baseEnv(dir), "", "wait", "--for=connected", "--timeout", "60s", "--socket", sock)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	p, _ := startServe(t, dir, cfg)
	if code := w.wait(t, time.Minute); code != 0 || !strings.Contains(w.stdout.String(), "connected: cache") {
		t.Errorf("wait for a manager starting: exit %d\n%s\n%s", code, w.stdout.String(), w.stderr.String())
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 15*time.Second)
}

// A SIGHUP that finds the file unchanged logs exactly one line saying so.
func TestServeSIGHUPUnchanged(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	p, sock := startServe(t, dir, cfg)
	// SIGHUP is handled once the watch is in place, which status shows.
	waitStatus(t, sock, "the file watched", func(st manager.Status) bool { return st.Watching == cfg })
	p.signal(t, syscall.SIGHUP)
	waitStatus(t, sock, "the SIGHUP recorded", func(st manager.Status) bool { return st.Reloads.Unchanged == 1 })
	waitFor(t, "the log line", func() bool { return strings.Contains(p.stderr.String(), "config.unchanged") })
	logs := p.stderr.String()
	if n := strings.Count(logs, "config.unchanged"); n != 1 || !strings.Contains(logs, "via=SIGHUP") {
		t.Errorf("a SIGHUP with nothing new logged %d config.unchanged line(s):\n%s", n, logs)
	}
	if n := strings.Count(logs, "config.applied"); n != 1 {
		t.Errorf("config.applied logged %d times, want once (the start):\n%s", n, logs)
	}
	if st, _ := status(t, sock); st.Generation != 1 || st.Reloads.Unchanged != 1 {
		t.Errorf("status after the SIGHUP: %+v", st)
	}
	p.signal(t, syscall.SIGTERM)
	p.wait(t, 15*time.Second)
}

// --metrics-addr serves /metrics alone, without a token, lint-clean, with
// the build and endpoint info metrics; nothing else answers there.
func TestMetricsAddr(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 2})
	p, _ := startServe(t, dir, cfg, "--metrics-addr", "127.0.0.1:0")
	addrRe := regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
	var addr string
	waitFor(t, "the metrics address in the log", func() bool {
		m := addrRe.FindStringSubmatch(p.stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	get := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("GET", "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	for _, want := range []string{
		`fleare_manager_build_info{goversion="go`,
		fmt.Sprintf(`fleare_manager_target_info{endpoint="%s",target="cache"} 1`, srv.Addr()),
		`fleare_manager_pool_open_connections{target="cache"} 2`,
		`fleare_manager_pool_connections_closed_total{reason="stray",target="cache"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
	for _, path := range []string{"/v1/status", "/v1/config", "/v1/events", "/"} {
		if code, body := get("GET", path); code != http.StatusNotFound {
			t.Errorf("GET %s on the metrics address: %d %s", path, code, body)
		}
	}
	if code, _ := get("POST", "/v1/apply"); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/apply on the metrics address: %d", code)
	}
	noSecret(t, testPassword, body)
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d", code)
	}
}

// The CLI's rough edges, as a user meets them.
func TestCLIEdges(t *testing.T) {
	dir := shortDir(t)
	env := baseEnv(dir)

	for typo, want := range map[string]string{"aply": "apply", "stauts": "status", "valdate": "validate"} {
		r := expect(t, 2, env, typo)
		if !strings.Contains(r.stderr, fmt.Sprintf("did you mean %q?", want)) {
			t.Errorf("flearectl %s: %v", typo, r)
		}
	}
	if r := expect(t, 2, env, "events", "extra"); strings.Contains(r.stderr, "-f") {
		t.Errorf("events extra speaks of -f: %v", r)
	}

	// validate: several files after one -f, as arguments, a directory,
	// and standard input.
	good := writeConfig(t, filepath.Join(dir, "good.yaml"), targetYAML{"a", 9219, 1})
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("version: 1\ntargets:\n  a: {host: h, port: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	venv := append(env, passwordEnv+"=x")
	r := expect(t, 1, venv, "validate", "-f", good, bad)
	if !strings.Contains(r.stdout, good+": ok (1 target)") || !strings.Contains(r.stdout, bad+":3:") ||
		!strings.Contains(r.stderr, "1 of 2 file(s) invalid") {
		t.Errorf("validate -f a b: %v", r)
	}
	expect(t, 0, venv, "validate", good)
	r = expect(t, 1, venv, "validate", dir)
	if !strings.Contains(r.stdout, good+": ok") || !strings.Contains(r.stdout, bad+":3:") {
		t.Errorf("validate DIR: %v", r)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	if r := expect(t, 1, venv, "validate", empty); !strings.Contains(r.stderr, "no .yaml or .yml file") {
		t.Errorf("validate of an empty directory: %v", r)
	}
	r = runIn(t, venv, "version: 1\ntargets:\n  a: {host: h, port: 0}\n", "validate", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stdout, "<stdin>:3:") {
		t.Errorf("validate -f - of a bad file: %v", r)
	}
	data, _ := os.ReadFile(good)
	if r := runIn(t, venv, string(data), "validate", "-"); r.code != 0 || !strings.Contains(r.stdout, "<stdin>: ok (1 target)") {
		t.Errorf("validate - of a good file: %v", r)
	}
	expect(t, 2, venv, "validate", "-", "-f", "-")
	if r := runIn(t, venv, "version: 1\ntargets:\n  a: {port: 0}\n", "check", "-f", "-"); r.code != 1 || !strings.Contains(r.stderr, "<stdin> is invalid") {
		t.Errorf("check -f - of a bad file: %v", r)
	}

	// Completion of flag values.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"status", "-o", ""}, []string{"table", "json", "yaml"}},
		{[]string{"apply", "-o", ""}, []string{"text", "json"}},
		{[]string{"events", "-o", ""}, []string{"text", "json"}},
		{[]string{"serve", "--log-format", ""}, []string{"text", "json"}},
		{[]string{"serve", "--log-level", ""}, []string{"debug", "info", "warn", "error"}},
		{[]string{"wait", "--for", ""}, []string{"connected", "ready"}},
	} {
		r := expect(t, 0, env, append([]string{"__complete"}, tc.args...)...)
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w+"\n") {
				t.Errorf("completion of %q lacks %q:\n%s", tc.args, w, r.stdout)
			}
		}
	}
}
