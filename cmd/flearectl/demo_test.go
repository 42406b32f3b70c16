package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/manager"
)

var (
	bannerConfig = regexp.MustCompile(`(?m)^  config     (\S+)$`)
	bannerSocket = regexp.MustCompile(`(?m)^  status     flearectl status --socket (\S+)$`)
	bannerServer = regexp.MustCompile(`(?m)^  server A   127\.0\.0\.1:(\d+) .*\n  server B   127\.0\.0\.1:(\d+) `)
)

// tmpEmpty fails the test if dir holds anything.
func tmpEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("the demo left %v behind (%v)", entries, err)
	}
}

func TestDemo(t *testing.T) {
	tmp := shortDir(t)
	env := baseEnv(tmp, "TMPDIR="+tmp)
	p := start(t, env, "", "demo", "--interval", "100ms")
	var cfg, sock, portA, portB string
	waitFor(t, "the banner", func() bool {
		out := p.stdout.String()
		m1, m2, m3 := bannerConfig.FindStringSubmatch(out), bannerSocket.FindStringSubmatch(out), bannerServer.FindStringSubmatch(out)
		if m1 == nil || m2 == nil || m3 == nil {
			return false
		}
		cfg, sock, portA, portB = m1[1], m2[1], m3[1], m3[2]
		return true
	})
	password, err := os.ReadFile(filepath.Join(filepath.Dir(cfg), "password"))
	if err != nil || len(password) < 10 {
		t.Fatalf("the demo's password file: %v", err)
	}
	if data, _ := os.ReadFile(cfg); strings.Contains(string(data), strings.TrimSpace(string(password))) {
		t.Error("the demo configuration holds the password")
	}
	waitStatus(t, sock, "both targets connected", func(st manager.Status) bool {
		return len(st.Targets) == 2 && target(st, "cache").Open == 2 && target(st, "sessions").Open == 3
	})
	waitStatus(t, sock, "pings", func(st manager.Status) bool { return target(st, "cache").Requests > 0 })
	if r := expect(t, 0, env, "status", "--socket", sock); !strings.Contains(r.stdout, "sessions") {
		t.Errorf("flearectl status against the demo: %v", r)
	}

	edit := func(old, new string) {
		t.Helper()
		data, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), old) {
			t.Fatalf("the demo configuration lacks %q:\n%s", old, data)
		}
		if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The resize the banner suggests: the first "size: 2" is cache's.
	edit("size: 2", "size: 5")
	waitStatus(t, sock, "cache resized to 5", func(st manager.Status) bool { return target(st, "cache").Open == 5 })
	// The endpoint swap: cache's port becomes server B's.
	edit("port: "+portA, "port: "+portB)
	waitStatus(t, sock, "cache on server B", func(st manager.Status) bool {
		return target(st, "cache").Addr == "127.0.0.1:"+portB && target(st, "cache").Open == 5
	})
	waitFor(t, "the events printed", func() bool {
		out := p.stdout.String()
		return strings.Contains(out, "target.resized cache") && strings.Contains(out, "target.replaced cache")
	})

	p.signal(t, syscall.SIGINT)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("demo after SIGINT: exit %d\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stdout.String(), "Demo stopped") {
		t.Errorf("the demo did not say it stopped:\n%s", p.stdout.String())
	}
	noSecret(t, strings.TrimSpace(string(password)), p.stdout.String(), p.stderr.String())
	tmpEmpty(t, tmp)
}

func TestDemoDuration(t *testing.T) {
	tmp := shortDir(t)
	env := baseEnv(tmp, "TMPDIR="+tmp)
	start := time.Now()
	r := expect(t, 0, env, "demo", "--duration", "500ms", "--interval", "100ms")
	if !strings.Contains(r.stdout, "config.applied") || !strings.Contains(r.stdout, "NAME") {
		t.Errorf("demo output: %v", r)
	}
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Errorf("demo --duration 500ms ended after %v", took)
	}
	tmpEmpty(t, tmp)

	kept := filepath.Join(shortDir(t), "demo.yaml")
	expect(t, 0, env, "demo", "--duration", "100ms", "--config", kept)
	if data, err := os.ReadFile(kept); err != nil || !strings.Contains(string(data), "targets:") {
		t.Errorf("--config: %v %s", err, data)
	}
	tmpEmpty(t, tmp)
	if r := expect(t, 2, env, "demo", "--duration", "100ms", "--config", kept); !strings.Contains(r.stderr, "exists") {
		t.Errorf("demo over an existing --config: %v", r)
	}
	tmpEmpty(t, tmp)
}
