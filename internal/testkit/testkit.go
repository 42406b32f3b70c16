// Package testkit holds what the manager's tests and the reliability suite
// share: configuration files for fleartest servers, a recorder of manager
// events, a load generator, and waits with deadlines.
package testkit

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/poll"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

// Credentials the test servers accept.
const (
	User     = "app"
	Password = "pa55-Known-To-Tests"
)

// Users is the fleartest user table for User and Password.
func Users() map[string]string { return map[string]string{User: Password} }

// Target describes one target of a test configuration.
type Target struct {
	Name     string
	Srv      *fleartest.Server
	Port     int // overrides Srv's port when set (host 127.0.0.1)
	Size     int // pool size, at least 1
	Pipeline int // pool.pipeline when set
	Password string
	Request  string // timeouts.request when set
}

// Timings are the defaults a test configuration sets.
type Timings struct {
	Connect, Request, Drain, RetryInterval string
	MaxRetries                             int
}

// Fast are timings that make faults show and heal quickly.
var Fast = Timings{Connect: "2s", Request: "5s", Drain: "2s", RetryInterval: "20ms", MaxRetries: 2}

// ConfigYAML renders a configuration file for targets with Fast timings.
func ConfigYAML(targets ...Target) string { return Fast.ConfigYAML(targets...) }

// ConfigYAML renders a configuration file for targets with timings tm.
func (tm Timings) ConfigYAML(targets ...Target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ndefaults:\n  username: %s\n", User)
	fmt.Fprintf(&b, "  timeouts: {connect: %s, request: %s, drain: %s}\n", tm.Connect, tm.Request, tm.Drain)
	fmt.Fprintf(&b, "  retry: {max_retries: %d, interval: %s}\n", tm.MaxRetries, tm.RetryInterval)
	if len(targets) == 0 {
		b.WriteString("targets: {}\n")
		return b.String()
	}
	b.WriteString("targets:\n")
	for _, t := range targets {
		host, port := "127.0.0.1", t.Port
		if t.Srv != nil && port == 0 {
			host, port = t.Srv.Host(), t.Srv.Port()
		}
		pw := t.Password
		if pw == "" {
			pw = Password
		}
		fmt.Fprintf(&b, "  %s:\n    host: %s\n    port: %d\n    password: %q\n", t.Name, host, port, pw)
		if t.Pipeline != 0 {
			fmt.Fprintf(&b, "    pool: {size: %d, pipeline: %d}\n", max(t.Size, 1), t.Pipeline)
		} else {
			fmt.Fprintf(&b, "    pool: {size: %d}\n", max(t.Size, 1))
		}
		if t.Request != "" {
			fmt.Fprintf(&b, "    timeouts: {request: %s}\n", t.Request)
		}
	}
	return b.String()
}

// Parse parses a test configuration.
func Parse(t testing.TB, yaml string) *spec.Config {
	t.Helper()
	cfg, err := spec.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", yaml, err)
	}
	return cfg
}

// NewManager returns a manager that the test closes when it ends.
func NewManager(t testing.TB, o manager.Options) *manager.Manager {
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

// Context returns a context that ends with the test: for a watch or a load
// that lasts as long as the test, however slow the machine. (It used to
// end after 60s, which on a loaded machine ended the soak's watch and load
// half-way.) It ends a little before the test binary's -timeout, if any,
// so that a hang fails the test with its own message.
func Context(t testing.TB) context.Context {
	ctx := t.Context()
	if d, ok := deadline(t); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-10*time.Second))
		t.Cleanup(cancel)
	}
	return ctx
}

// deadline returns the test binary's deadline, for a *testing.T.
func deadline(t testing.TB) (time.Time, bool) {
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return dt.Deadline()
	}
	return time.Time{}, false
}

// Apply applies yaml and fails the test on any error.
func Apply(t testing.TB, m *manager.Manager, yaml string) manager.Result {
	t.Helper()
	res, err := m.Apply(Context(t), Parse(t, yaml))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return res
}

// WriteFile replaces path's content at once: it writes a temporary file
// beside it and renames it over path, so that a reader never meets the file
// empty or half written. (Written in place, a file is empty between the
// truncate and the write; a writer stalled there past the manager's
// settling time, as on a loaded machine, rightly has it rejected.)
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".testkit~"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// WriteInPlace truncates path and writes content, as an editor that saves
// in place does: a reader may meet the file empty in between.
func WriteInPlace(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// WaitConns waits until srv holds exactly n authenticated connections.
func WaitConns(t testing.TB, srv *fleartest.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Wait(ctx, func() bool { return srv.Conns() == n }); err != nil {
		t.Fatalf("server %s: %d connections, want %d", srv.Addr(), srv.Conns(), n)
	}
}

// WaitSubscribers waits until n of srv's connections are subscribed to ch.
// A connection counts in Conns once authenticated, before a SUBSCRIBE sent
// on it is applied: a message published in between is not delivered.
func WaitSubscribers(t testing.TB, srv *fleartest.Server, ch string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Wait(ctx, func() bool { return srv.Subscribers(ch) == n }); err != nil {
		t.Fatalf("server %s: %d subscribed to %q, want %d", srv.Addr(), srv.Subscribers(ch), ch, n)
	}
}

// WaitStatus polls m.Status until cond holds.
func WaitStatus(t testing.TB, m *manager.Manager, what string, cond func(manager.Status) bool) manager.Status {
	t.Helper()
	var st manager.Status
	if !poll.For(poll.Timeout, func() bool { st = m.Status(); return cond(st) }) {
		t.Fatalf("timed out waiting for %s; status: %+v", what, st)
	}
	return st
}

// Recorder collects a manager's events.
type Recorder struct {
	mu     sync.Mutex
	events []manager.Event
	more   chan struct{}
	done   chan struct{}
}

// Record subscribes to m's events until the test ends.
func Record(t testing.TB, m *manager.Manager) *Recorder {
	ch, cancel := m.Subscribe()
	r := &Recorder{more: make(chan struct{}, 1), done: make(chan struct{})}
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

// All returns the events so far.
func (r *Recorder) All() []manager.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Len returns how many events were recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// Wait returns the first event from index from on that matches, waiting up
// to 10s for it, and the index after it.
func (r *Recorder) Wait(t testing.TB, from int, what string, match func(manager.Event) bool) (manager.Event, int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		evs := r.All()
		for i := from; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i], i + 1
			}
		}
		select {
		case <-r.more:
		case <-timeout:
			t.Fatalf("timed out waiting for event %s; have:\n%s", what, Lines(evs[min(from, len(evs)):]))
		}
	}
}

// Is matches events of type typ, about target unless target is "".
func Is(typ manager.EventType, target string) func(manager.Event) bool {
	return func(e manager.Event) bool { return e.Type == typ && (target == "" || e.Target == target) }
}

// Lines formats events one per line, for failure messages.
func Lines(evs []manager.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}
