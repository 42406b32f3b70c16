package manager_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

const (
	testUser     = "app"
	testPassword = "pa55-Known-To-Tests"
)

var testUsers = map[string]string{testUser: testPassword}

// tgt describes one target of a test configuration.
type tgt struct {
	name     string
	srv      *fleartest.Server
	port     int // overrides srv's port when set (with host 127.0.0.1)
	size     int
	password string // default testPassword
	request  string // timeouts.request, default 5s
}

// configYAML renders a configuration file with fast timeouts.
func configYAML(targets ...tgt) string {
	var b strings.Builder
	b.WriteString("version: 1\ndefaults:\n  username: " + testUser + "\n")
	b.WriteString("  timeouts: {connect: 2s, request: 5s, drain: 2s}\n")
	b.WriteString("  retry: {max_retries: 2, interval: 20ms}\n")
	if len(targets) == 0 {
		b.WriteString("targets: {}\n")
		return b.String()
	}
	b.WriteString("targets:\n")
	for _, t := range targets {
		host, port := "127.0.0.1", t.port
		if t.srv != nil && port == 0 {
			host, port = t.srv.Host(), t.srv.Port()
		}
		pw := t.password
		if pw == "" {
			pw = testPassword
		}
		fmt.Fprintf(&b, "  %s:\n    host: %s\n    port: %d\n    password: %q\n    pool: {size: %d}\n",
			t.name, host, port, pw, max(t.size, 1))
		if t.request != "" {
			fmt.Fprintf(&b, "    timeouts: {request: %s}\n", t.request)
		}
	}
	return b.String()
}

func parse(t testing.TB, yaml string) *spec.Config {
	t.Helper()
	cfg, err := spec.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", yaml, err)
	}
	return cfg
}

func newManager(t testing.TB, o manager.Options) *manager.Manager {
	t.Helper()
	m, err := manager.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func apply(t testing.TB, m *manager.Manager, yaml string) manager.Result {
	t.Helper()
	res, err := m.Apply(testCtx(t), parse(t, yaml))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

// waitConns waits until srv holds exactly n authenticated connections.
func waitConns(t testing.TB, srv *fleartest.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Wait(ctx, func() bool { return srv.Conns() == n }); err != nil {
		t.Fatalf("server %s: %d connections, want %d", srv.Addr(), srv.Conns(), n)
	}
}

// waitStatus polls m.Status until cond holds.
func waitStatus(t testing.TB, m *manager.Manager, what string, cond func(manager.Status) bool) manager.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := m.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder collects the manager's events.
type recorder struct {
	mu     sync.Mutex
	events []manager.Event
	more   chan struct{}
	done   chan struct{}
}

func record(t testing.TB, m *manager.Manager) *recorder {
	ch, cancel := m.Subscribe()
	r := &recorder{more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for e := range ch {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *recorder) all() []manager.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// wait returns the first event from index from on that matches, waiting
// for it, and the index after it.
func (r *recorder) wait(t testing.TB, from int, what string, match func(manager.Event) bool) (manager.Event, int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		evs := r.all()
		for i := from; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i], i + 1
			}
		}
		select {
		case <-r.more:
		case <-timeout:
			t.Fatalf("timed out waiting for event %s; have:\n%s", what, eventLines(evs[min(from, len(evs)):]))
		}
	}
}

func isType(typ manager.EventType, target string) func(manager.Event) bool {
	return func(e manager.Event) bool { return e.Type == typ && (target == "" || e.Target == target) }
}

func eventLines(evs []manager.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}
