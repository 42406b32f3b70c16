package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/manager"
)

var (
	bannerConfig = regexp.MustCompile(`(?m)^  config     (\S+)$`)
	bannerSocket = regexp.MustCompile(`(?m)^  status     flearectl status --socket (\S+)$`)
	bannerServer = regexp.MustCompile(`(?m)^  server A   127\.0\.0\.1:(\d+) .*\n  server B   127\.0\.0\.1:(\d+) `)
	bannerListen = regexp.MustCompile(`(?m)^listen cache (127\.0\.0\.1:\d+)\nlisten sessions 127\.0\.0\.1:\d+\n  log in as user "demo" with the password in (\S+)\n`)
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
	var cfg, sock, portA, portB, listen, appFile string
	waitFor(t, "the banner", func() bool {
		out := p.stdout.String()
		m1, m2, m3, m4 := bannerConfig.FindStringSubmatch(out), bannerSocket.FindStringSubmatch(out), bannerServer.FindStringSubmatch(out), bannerListen.FindStringSubmatch(out)
		if m1 == nil || m2 == nil || m3 == nil || m4 == nil {
			return false
		}
		cfg, sock, portA, portB, listen, appFile = m1[1], m2[1], m3[1], m3[2], m4[1], m4[2]
		return true
	})
	// An app, with the project's own client, logs in to cache's proxy as
	// the banner says, and keeps sending requests through the edits below.
	appPassword, err := os.ReadFile(appFile)
	if err != nil {
		t.Fatalf("the apps' password file: %v", err)
	}
	app := demoApp(t, listen, strings.TrimSpace(string(appPassword)))
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
	if n, failed := app.stop(); n == 0 || failed != 0 || app.drops.Load() != 0 {
		t.Errorf("the app through the proxy: %d requests, %d failed (first: %v), %d disconnects", n, failed, app.firstFailure.Load(), app.drops.Load())
	}

	p.signal(t, syscall.SIGINT)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Errorf("demo after SIGINT: exit %d\n%s", code, p.stderr.String())
	}
	if !strings.Contains(p.stdout.String(), "Demo stopped") {
		t.Errorf("the demo did not say it stopped:\n%s", p.stdout.String())
	}
	noSecret(t, strings.TrimSpace(string(password)), p.stdout.String(), p.stderr.String())
	noSecret(t, strings.TrimSpace(string(appPassword)), p.stdout.String(), p.stderr.String())
	tmpEmpty(t, tmp)
}

// trafficApp is an app sending SET and PING through the demo's proxy
// until stopped.
type trafficApp struct {
	done         chan struct{}
	finished     chan struct{}
	n, failed    atomic.Int64
	drops        atomic.Int64
	firstFailure atomic.Value
}

func demoApp(t *testing.T, addr, password string) *trafficApp {
	t.Helper()
	host, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	a := &trafficApp{done: make(chan struct{}), finished: make(chan struct{})}
	c := fleare.NewClient(host, port, fleare.Options{PoolSize: 1, Username: "demo", Password: password,
		OnEvent: func(e fleare.Event) {
			if e.Type == fleare.EventDisconnected {
				a.drops.Add(1)
			}
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("log in through the demo's proxy: %v", err)
	}
	go func() {
		defer close(a.finished)
		defer c.Close(context.Background())
		for i := 0; ; i++ {
			select {
			case <-a.done:
				return
			default:
			}
			if r, err := c.Exec(ctx, "SET", "k", strconv.Itoa(i)); err != nil || r.Status != "Ok" {
				a.failed.Add(1)
				a.firstFailure.CompareAndSwap(nil, fmt.Sprint(r, err))
			}
			a.n.Add(1)
		}
	}()
	return a
}

func (a *trafficApp) stop() (n, failed int64) {
	close(a.done)
	<-a.finished
	return a.n.Load(), a.failed.Load()
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
