package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
)

const (
	testUser     = "app"
	testPassword = "cli-Test-pa55word"
	passwordEnv  = "FLEARECTL_TEST_PASSWORD"
)

// fleareServer starts a Fleare test server that knows testUser.
func fleareServer(t *testing.T) *fleartest.Server {
	t.Helper()
	return fleartest.NewServer(t, fleartest.Options{Users: map[string]string{testUser: testPassword}})
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// targetYAML is one target of a test configuration.
type targetYAML struct {
	name string
	port int
	size int
}

// writeConfig writes a configuration with fast timeouts whose password
// comes from $FLEARECTL_TEST_PASSWORD, and returns its path.
func writeConfig(t *testing.T, path string, targets ...targetYAML) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ndefaults:\n  username: %s\n  password: ${%s}\n", testUser, passwordEnv)
	b.WriteString("  timeouts: {connect: 2s, request: 2s, drain: 200ms}\n  retry: {max_retries: 0, interval: 50ms}\ntargets:\n")
	for _, tg := range targets {
		fmt.Fprintf(&b, "  %s:\n    host: 127.0.0.1\n    port: %d\n    pool: {size: %d}\n", tg.name, tg.port, tg.size)
	}
	// Written whole under another name, then renamed: the watcher never
	// sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServe runs flearectl serve on cfg with its socket in dir, and waits
// until it has applied the file. Configurations sent to its API may read
// $FLEARECTL_TEST_PASSWORD, as the file does.
func startServe(t *testing.T, dir, cfg string, extra ...string) (*proc, string) {
	t.Helper()
	sock := filepath.Join(dir, "admin.sock")
	args := append([]string{"serve", "-f", cfg, "--socket", sock, "--shutdown-timeout", "5s", "--api-env", passwordEnv}, extra...)
	p := start(t, baseEnv(dir, passwordEnv+"="+testPassword), "", args...)
	waitFor(t, "serve to apply its file", func() bool {
		select {
		case <-p.done:
			t.Fatalf("serve exited %d\nstderr:\n%s", p.code, p.stderr.String())
		default:
		}
		st, err := status(t, sock)
		return err == nil && st.LastReload != nil
	})
	return p, sock
}

func TestServe(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	env := baseEnv(dir)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 2})
	p, sock := startServe(t, dir, cfg)
	sockFlag := "--socket=" + sock
	var outputs []string
	run := func(code int, args ...string) result {
		t.Helper()
		r := expect(t, code, env, append(args, sockFlag)...)
		outputs = append(outputs, r.stdout, r.stderr)
		return r
	}

	t.Run("socket mode", func(t *testing.T) {
		fi, err := os.Lstat(sock)
		if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
			t.Errorf("admin socket: %v %v, want a socket of mode 0600", fi.Mode(), err)
		}
	})

	t.Run("second serve refused", func(t *testing.T) {
		r := flearectl(t, env, "", "serve", "-f", cfg, sockFlag)
		if r.code == 0 || !strings.Contains(r.stderr, "another server is listening") {
			t.Errorf("a second serve on the socket: %v", r)
		}
		if _, err := status(t, sock); err != nil {
			t.Errorf("the first serve no longer answers: %v", err)
		}
	})

	t.Run("status", func(t *testing.T) {
		waitStatus(t, sock, "cache connected", func(st manager.Status) bool { return target(st, "cache").Open == 2 })
		r := run(0, "status")
		for _, want := range []string{"Config:", cfg, "Generation:  1", "Last reload: applied",
			"NAME", "ENDPOINT", "STATE", "POOL", "IN-USE", "WAITING", "ERRORS", "LAST-CHANGE",
			"cache", srv.Addr(), "connected", "2/2"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("status table lacks %q:\n%s", want, r.stdout)
			}
		}
		var st manager.Status
		if err := json.Unmarshal([]byte(run(0, "status", "-o", "json").stdout), &st); err != nil ||
			target(st, "cache").Desired != 2 || st.Watching != cfg {
			t.Errorf("status -o json: %v %+v", err, st)
		}
		var doc struct {
			Generation int `yaml:"generation"`
			Targets    []struct {
				Name  string `yaml:"name"`
				State string `yaml:"state"`
			} `yaml:"targets"`
		}
		out := run(0, "status", "-o", "yaml").stdout
		if err := yaml.Unmarshal([]byte(out), &doc); err != nil || doc.Generation != 1 ||
			len(doc.Targets) != 1 || doc.Targets[0].Name != "cache" || doc.Targets[0].State != "connected" {
			t.Errorf("status -o yaml: %v %+v\n%s", err, doc, out)
		}
		run(2, "status", "-o", "xml")

		w := start(t, env, "", "status", "--watch", "--interval", "50ms", sockFlag)
		waitFor(t, "status --watch to print twice", func() bool { return strings.Count(w.stdout.String(), "LAST-CHANGE") >= 2 })
		w.signal(t, syscall.SIGINT)
		if code := w.wait(t, 10*time.Second); code != 0 {
			t.Errorf("status --watch after SIGINT: exit %d\n%s", code, w.stderr.String())
		}
		if strings.Contains(w.stdout.String(), clearScreen) {
			t.Error("status --watch clears the screen of a pipe")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		body := apiGet(t, sock, "/metrics")
		for _, want := range []string{"200 OK", `fleare_manager_pool_open_connections{target="cache"} 2`,
			"fleare_manager_config_last_reload_successful 1", "fleare_manager_request_duration_seconds"} {
			if !strings.Contains(body, want) {
				t.Errorf("GET /metrics lacks %q", want)
			}
		}
		outputs = append(outputs, body)
	})

	resized := writeConfig(t, filepath.Join(dir, "resized.yaml"), targetYAML{"cache", srv.Port(), 3})
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\ntargets:\n  cache:\n    port: 0\n  x: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("diff", func(t *testing.T) {
		if r := run(0, "diff", "-f", cfg); !strings.Contains(r.stdout, "No changes") {
			t.Errorf("diff of the file in force: %v", r)
		}
		if r := run(1, "diff", "-f", resized); !strings.Contains(r.stdout, "~ resize cache: pool.size 2 → 3") {
			t.Errorf("diff of a resize: %v", r)
		}
		r := run(2, "diff", "-f", bad)
		for _, want := range []string{bad + ":3:3: target \"cache\": host: missing", bad + ":4:11: target \"cache\": port: 0 is out of range", bad + ":5:6: target \"x\""} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("diff of a bad file lacks %q:\n%s", want, r.stderr)
			}
		}
		run(2, "diff", "-f", filepath.Join(dir, "missing.yaml"))
		run(2, "diff")
	})

	t.Run("apply", func(t *testing.T) {
		r := run(0, "apply", "-f", resized, "--dry-run")
		if !strings.Contains(r.stdout, "resize cache") || !strings.Contains(r.stdout, "Dry run: nothing was changed.") {
			t.Errorf("apply --dry-run: %v", r)
		}
		if st, _ := status(t, sock); target(st, "cache").Desired != 2 {
			t.Errorf("apply --dry-run changed the pool: %+v", target(st, "cache"))
		}
		// The watched file is the source of truth: apply is refused, and
		// forced, it shows as such.
		r = run(1, "apply", "-f", resized)
		if !strings.Contains(r.stderr, "source of truth") || !strings.Contains(r.stderr, "--force") || r.stdout != "" {
			t.Errorf("apply while serve follows a file: %v", r)
		}
		r = run(0, "apply", "-f", resized, "--force")
		if !strings.Contains(r.stdout, "Outcome (generation 2)") || !strings.Contains(r.stdout, "resize  cache") {
			t.Errorf("apply: %v", r)
		}
		if r := run(0, "status"); !strings.Contains(r.stdout, "applied through the admin API with --force") ||
			!strings.Contains(r.stdout, "Watching:    "+cfg+" (the file wins") {
			t.Errorf("status after a forced apply: %v", r)
		}
		waitStatus(t, sock, "pool of 3", func(st manager.Status) bool { return target(st, "cache").Open == 3 })

		r = run(1, "apply", "-f", bad, "--force")
		if !strings.Contains(r.stderr, "configuration rejected (3 problem(s)); nothing changed") ||
			!strings.Contains(r.stderr, bad+":4:11: ") {
			t.Errorf("apply of a bad file: %v", r)
		}
		if st, _ := status(t, sock); st.Generation != 2 || target(st, "cache").Desired != 3 {
			t.Errorf("a rejected apply changed the manager: %+v", st)
		}

		broken := writeConfig(t, filepath.Join(dir, "broken.yaml"),
			targetYAML{"cache", srv.Port(), 3}, targetYAML{"down", closedPort(t), 1})
		r = run(1, "apply", "-f", broken, "--force")
		if !strings.Contains(r.stdout, "create  down") || !strings.Contains(r.stdout, "FAILED") ||
			!strings.Contains(r.stdout, "1 of 1 action(s) failed") {
			t.Errorf("apply with a target down: %v", r)
		}
		var res struct {
			FormatVersion int `json:"format_version"`
			Outcomes      []struct {
				Action, Error, Took string
			} `json:"outcomes"`
		}
		// -o json exits as text does: 1 when a target failed.
		down := writeConfig(t, filepath.Join(dir, "down.yaml"),
			targetYAML{"cache", srv.Port(), 3}, targetYAML{"down2", closedPort(t), 1})
		if err := json.Unmarshal([]byte(run(1, "apply", "-f", down, "--force", "-o", "json").stdout), &res); err != nil ||
			res.FormatVersion != manager.FormatVersion || len(res.Outcomes) != 2 || res.Outcomes[0].Error == "" {
			t.Errorf("apply -o json with a target down: %v %+v", err, res)
		}
		if err := json.Unmarshal([]byte(run(0, "apply", "-f", resized, "--force", "-o", "json").stdout), &res); err != nil {
			t.Errorf("apply -o json: %v", err)
		}
		if _, err := time.ParseDuration(res.Outcomes[0].Took); err != nil {
			t.Errorf("apply -o json: took %q is not a duration string", res.Outcomes[0].Took)
		}
	})

	t.Run("config", func(t *testing.T) {
		r := run(0, "config")
		if !strings.Contains(r.stdout, "password: <secret>") || !strings.Contains(r.stdout, "size: 3") {
			t.Errorf("config: %v", r)
		}
	})

	t.Run("events", func(t *testing.T) {
		r := run(0, "events")
		for _, want := range []string{"target.created cache", "config.applied", "target.resized cache (" + srv.Addr() + ") 2 → 3"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("events lack %q:\n%s", want, r.stdout)
			}
		}
		for line := range strings.Lines(run(0, "events", "-o", "json").stdout) {
			var e manager.Event
			if err := json.Unmarshal([]byte(line), &e); err != nil || e.Type == "" {
				t.Errorf("events -o json line %q: %v", line, err)
			}
		}

		f := start(t, env, "", "events", "--follow", sockFlag)
		waitFor(t, "the history", func() bool { return strings.Contains(f.stdout.String(), "target.resized cache") })
		writeConfig(t, cfg, targetYAML{"cache", srv.Port(), 1}) // the watched file wins again: a hot reload
		waitFor(t, "the live resize", func() bool { return strings.Contains(f.stdout.String(), "3 → 1") })
		if st, err := status(t, sock); err != nil || st.Source != cfg {
			t.Errorf("the file's change did not win over the forced apply: %v %+v", err, st)
		}
		f.signal(t, syscall.SIGINT)
		if code := f.wait(t, 10*time.Second); code != 0 {
			t.Errorf("events --follow after SIGINT: exit %d\n%s", code, f.stderr.String())
		}
		outputs = append(outputs, f.stdout.String(), f.stderr.String())
	})

	t.Run("SIGTERM", func(t *testing.T) {
		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t, 15*time.Second); code != 0 {
			t.Errorf("serve after SIGTERM: exit %d\n%s", code, p.stderr.String())
		}
		if _, err := os.Lstat(sock); !os.IsNotExist(err) {
			t.Errorf("the socket outlives serve: %v", err)
		}
		for _, want := range []string{"admin API listening", "config.applied", "shutting down", "target.drained"} {
			if !strings.Contains(p.stderr.String(), want) {
				t.Errorf("the log lacks %q", want)
			}
		}
	})
	noSecret(t, testPassword, append(outputs, p.stdout.String(), p.stderr.String())...)
}

func TestServeInvalidConfig(t *testing.T) {
	dir := shortDir(t)
	examples, err := filepath.Abs("../../examples/configs")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "admin.sock")
	cfg := filepath.Join(examples, "bad-pool.yaml")
	r := flearectl(t, baseEnv(dir), "", "serve", "-f", cfg, "--socket", sock)
	if r.code != 1 {
		t.Fatalf("serve with an invalid file: %v", r)
	}
	golden, err := os.ReadFile(filepath.Join(examples, "bad-pool.errors"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(golden)) {
		if want := filepath.Join(examples, strings.TrimSpace(line)); !strings.Contains(r.stderr, want) {
			t.Errorf("serve's errors lack\n%s\ngot:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, "is invalid (5 problems)") {
		t.Errorf("no count of the problems:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "kept") || !strings.Contains(r.stderr, "nothing is applied") {
		t.Errorf("serve with an invalid file speaks of a configuration kept:\n%s", r.stderr)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("serve left its socket behind: %v", err)
	}
	expect(t, 2, baseEnv(dir), "serve", "-f", cfg, "--socket", sock, "--log-format", "xml")         // bad flag value
	expect(t, 1, baseEnv(dir), "serve", "-f", filepath.Join(dir, "missing.yaml"), "--socket", sock) // unreadable
}

func TestServeWarnsAboutExposedPasswords(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := filepath.Join(dir, "fleare.yaml")
	data := fmt.Sprintf("version: 1\ntargets:\n  cache:\n    host: 127.0.0.1\n    port: %d\n    username: %s\n    password: %s\n    pool: {size: 1}\n",
		srv.Port(), testUser, testPassword)
	if err := os.WriteFile(cfg, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	p, _ := startServe(t, dir, cfg, "--log-format", "json")
	waitFor(t, "the warning", func() bool { return strings.Contains(p.stderr.String(), "plaintext password") })
	if !strings.Contains(p.stderr.String(), `"lines":[7]`) {
		t.Errorf("the warning does not say which line:\n%s", p.stderr.String())
	}
	p.signal(t, syscall.SIGINT)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve after SIGINT: exit %d", code)
	}
	noSecret(t, testPassword, p.stdout.String(), p.stderr.String())
}
