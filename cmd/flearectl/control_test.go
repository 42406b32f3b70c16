package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/manager"
)

// pause, resume and reconnect as a user runs them: their lines and exit
// codes, status while paused (table, details, JSON), a pause kept across a
// SIGHUP reload that changes nothing, reconnect opening a new connection
// for each, and the mistakes.
func TestPauseResumeReconnect(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	env := baseEnv(dir)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 2}, targetYAML{"sessions", srv.Port(), 1})
	p, sock := startServe(t, dir, cfg)
	sockFlag := "--socket=" + sock
	run := func(code int, args ...string) result {
		t.Helper()
		return expect(t, code, env, append(args, sockFlag)...)
	}
	waitStatus(t, sock, "the file watched", func(st manager.Status) bool { return st.Watching == cfg })

	if r := run(0, "pause", "cache", "--timeout", "10s"); r.stdout != "cache: paused, no request in flight (0 held)\n" {
		t.Errorf("pause: %v", r)
	}
	r := run(0, "status")
	if !strings.Contains(r.stdout, "connected,paused") || !strings.Contains(r.stdout, "Paused (new requests wait for flearectl resume NAME):\n  cache: 0 request(s) held, 0 in flight") {
		t.Errorf("status while paused: %v", r)
	}
	var st manager.Status
	if err := json.Unmarshal([]byte(run(0, "status", "-o", "json").stdout), &st); err != nil ||
		!target(st, "cache").Paused || target(st, "sessions").Paused {
		t.Errorf("status -o json while paused: %v %+v", err, st)
	}

	p.signal(t, syscall.SIGHUP)
	waitStatus(t, sock, "the SIGHUP recorded", func(st manager.Status) bool { return st.Reloads.Unchanged == 1 })
	if st, _ := status(t, sock); !target(st, "cache").Paused {
		t.Errorf("a reload that changes nothing ended the pause: %+v", target(st, "cache"))
	}

	if r := run(0, "resume", "cache"); r.stdout != "cache: resumed\n" {
		t.Errorf("resume: %v", r)
	}
	if st, _ := status(t, sock); target(st, "cache").Paused {
		t.Errorf("still paused after resume")
	}

	accepted := srv.Accepted()
	if r := run(0, "reconnect", "cache", "sessions"); r.stdout != "cache: every connection replaced\nsessions: every connection replaced\n" {
		t.Errorf("reconnect: %v", r)
	}
	if got := srv.Accepted() - accepted; got != 3 {
		t.Errorf("reconnect opened %d connections, want 3", got)
	}
	st = waitStatus(t, sock, "3 open", func(st manager.Status) bool { return target(st, "cache").Open == 2 && target(st, "sessions").Open == 1 })
	if c := target(st, "cache"); c.ClosedReconnect != 2 || c.Stale != 0 {
		t.Errorf("cache after reconnect: %+v", c)
	}
	r = run(0, "events")
	for _, want := range []string{"target.paused cache", "target.resumed cache", "target.reconnected cache", "2 connections replaced"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("events lack %q:\n%s", want, r.stdout)
		}
	}

	if r := run(1, "pause", "cahce"); !strings.Contains(r.stderr, `no target "cahce"`) || !strings.Contains(r.stderr, `did you mean "cache"?`) {
		t.Errorf("pause of an unknown target: %v", r)
	}
	if st, _ := status(t, sock); target(st, "cache").Paused {
		t.Errorf("a refused pause paused something")
	}
	run(2, "pause")
	run(2, "reconnect", "cache", "--timeout", "0s")
	if r := expect(t, 2, env, "pasue", "cache"); !strings.Contains(r.stderr, `did you mean "pause"?`) {
		t.Errorf("typo: %v", r)
	}
	if r := expect(t, 2, env, "unpause", "cache"); !strings.Contains(r.stderr, `did you mean "resume"?`) {
		t.Errorf("unpause: %v", r)
	}

	// Target names complete from the running manager.
	for _, cmd := range []string{"pause", "resume", "reconnect"} {
		r := expect(t, 0, env, "__complete", cmd, sockFlag, "")
		if !strings.Contains(r.stdout, "cache\t") || !strings.Contains(r.stdout, "sessions\t") {
			t.Errorf("completion of %s NAME:\n%s", cmd, r.stdout)
		}
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d\n%s", code, p.stderr.String())
	}
	noSecret(t, testPassword, p.stderr.String())
}
