package manager_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/reconcile"
)

// pingAll starts n pings and returns a function that waits for their
// errors.
func pingAll(ctx context.Context, c *manager.Client, n int) func() []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = c.Ping(ctx) })
	}
	return func() []error { wg.Wait(); return errs }
}

func heldOn(addr string, n int) func(manager.Status) bool {
	return func(st manager.Status) bool {
		return len(st.Targets) == 1 && st.Targets[0].Addr == addr && st.Targets[0].Paused && st.Targets[0].Held == n
	}
}

// A paused target holds its calls through a reload that changes nothing,
// an in-place update and a replace (the new pool starts paused and the
// held calls move to it); Resume lets them all through, to the new server.
func TestPauseSurvivesReloads(t *testing.T) {
	s1 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	s2 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	ctx := testkit.Context(t)
	a := m.Client("a")
	on := func(srv *fleartest.Server, request string) string {
		return testkit.ConfigYAML(testkit.Target{Name: "a", Srv: srv, Size: 2, Request: request})
	}
	testkit.Apply(t, m, on(s1, "30s"))
	testkit.WaitConns(t, s1, 2)

	if err := m.Pause(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	ev.Wait(t, 0, "paused", testkit.Is(manager.EventTargetPaused, "a"))
	wait := pingAll(ctx, a, 4)
	testkit.WaitStatus(t, m, "4 held", heldOn(s1.Addr(), 4))
	before := s1.Requests()

	if res := testkit.Apply(t, m, on(s1, "30s")); !res.Plan.Empty() {
		t.Fatalf("same config: plan\n%s", res.Plan)
	}
	res := testkit.Apply(t, m, on(s1, "29s"))
	if len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Update {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	testkit.WaitStatus(t, m, "still 4 held after an in-place update", heldOn(s1.Addr(), 4))

	testkit.Apply(t, m, on(s2, "29s"))
	ev.Wait(t, 0, "replaced", testkit.Is(manager.EventTargetReplaced, "a"))
	testkit.WaitStatus(t, m, "4 held by the new pool", heldOn(s2.Addr(), 4))
	if got := s1.Requests(); got != before {
		t.Fatalf("s1 served %d requests while paused", got-before)
	}
	if got := s2.Requests(); got != 0 {
		t.Fatalf("the new pool's server served %d requests before Resume", got)
	}
	if paused, err := m.Paused("a"); !paused || err != nil {
		t.Fatalf("Paused = %v, %v", paused, err)
	}

	if err := m.Resume("a"); err != nil {
		t.Fatal(err)
	}
	for i, err := range wait() {
		if err != nil {
			t.Fatalf("held ping %d: %v", i, err)
		}
	}
	ev.Wait(t, 0, "resumed", testkit.Is(manager.EventTargetResumed, "a"))
	if st := m.Status().Targets[0]; st.Paused || st.Held != 0 || st.Holds == 0 {
		t.Fatalf("after Resume: %+v", st)
	}
	for _, e := range ev.All() {
		if e.Type == manager.EventType(fleare.EventPaused) || e.Type == manager.EventType(fleare.EventResumed) {
			t.Fatalf("a pool's own pause event was relayed: %v", e)
		}
	}
}

// Removing a paused target ends its held calls with ErrTargetRemoved.
func TestPausedTargetRemoved(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	m := testkit.NewManager(t, manager.Options{})
	ctx := testkit.Context(t)
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1, Request: "30s"}))
	if err := m.Pause(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	wait := pingAll(ctx, m.Client("a"), 2)
	testkit.WaitStatus(t, m, "2 held", heldOn(s.Addr(), 2))
	testkit.Apply(t, m, testkit.ConfigYAML())
	for _, err := range wait() {
		if !errors.Is(err, manager.ErrTargetRemoved) {
			t.Fatalf("held call of a removed target: %v", err)
		}
	}
}

// Reconnect replaces every connection of a target under load: no call
// fails, the strict server sees nothing it would not survive, and the
// event says how many were replaced.
func TestReconnectTarget(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	m := testkit.NewManager(t, manager.Options{CloseSpacing: wideSpacing})
	ev := testkit.Record(t, m)
	ctx := testkit.Context(t)
	a := m.Client("a")
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 3}))
	testkit.WaitConns(t, s, 3)
	accepted := s.Accepted()

	load := testkit.StartLoad(ctx, 16, 10*time.Second, a.Ping)
	load.WaitOK(t, 100)
	if err := m.Reconnect(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	load.Reset()
	load.WaitOK(t, 100)
	if calls := load.Stop(); calls.Failed != 0 {
		t.Fatalf("%d calls failed; first: %v", calls.Failed, calls.First)
	}
	e, _ := ev.Wait(t, 0, "reconnected", testkit.Is(manager.EventTargetReconnected, "a"))
	if e.New != "3 connections replaced" || e.Error != "" {
		t.Fatalf("event: %v", e)
	}
	testkit.WaitConns(t, s, 3)
	if got := s.Accepted() - accepted; got != 3 {
		t.Fatalf("server accepted %d connections, want 3", got)
	}
	if st := m.Status().Targets[0]; st.ClosedReconnect != 3 || st.ClosedBroken != 0 || st.ClosedTimeout != 0 {
		t.Fatalf("status: %+v", st)
	}
	if o := s.Overlaps(); o != (fleartest.Overlaps{}) || s.Stranded() != 0 {
		t.Fatalf("overlaps %+v, stranded %d", o, s.Stranded())
	}
}

func TestControlUnknownTarget(t *testing.T) {
	m := testkit.NewManager(t, manager.Options{})
	ctx := testkit.Context(t)
	for name, err := range map[string]error{
		"pause":     m.Pause(ctx, "nope"),
		"resume":    m.Resume("nope"),
		"reconnect": m.Reconnect(ctx, "nope"),
	} {
		if !errors.Is(err, manager.ErrUnknownTarget) {
			t.Errorf("%s of an unknown target: %v", name, err)
		}
	}
}

// pool.max_lifetime and pool.health_check_interval from the file reach the
// pool: connections are renewed, one at a time, and no call fails.
func TestLifetimeFromConfig(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	m := testkit.NewManager(t, manager.Options{CloseSpacing: wideSpacing})
	ctx := testkit.Context(t)
	cfg := testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2})
	withLifetime := strings.Replace(cfg, "pool: {size: 2}",
		"pool: {size: 2, max_lifetime: 1ms, lifetime_jitter: 1ms, health_check_interval: 5ms}", 1)
	testkit.Apply(t, m, withLifetime)
	load := testkit.StartLoad(ctx, 4, 10*time.Second, m.Client("a").Ping)
	testkit.WaitStatus(t, m, "4 connections renewed", func(st manager.Status) bool {
		return len(st.Targets) == 1 && st.Targets[0].ClosedLifetime >= 4
	})
	res := testkit.Apply(t, m, cfg) // lifetime off again: in place
	if len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Update {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	if calls := load.Stop(); calls.Failed != 0 {
		t.Fatalf("%d calls failed; first: %v", calls.Failed, calls.First)
	}
	if o := s.Overlaps(); o != (fleartest.Overlaps{}) || s.Stranded() != 0 {
		t.Fatalf("overlaps %+v, stranded %d", o, s.Stranded())
	}
}

// wideSpacing is the close spacing where a test checks overlaps on a
// strict server: wide against the 1ms the server counts, for loaded
// machines.
const wideSpacing = 100 * time.Millisecond

type ctxKey struct{}

// The request observer gets the caller's context; AfterConnect runs on
// every new connection with its target's name.
func TestHooks(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	var seen atomic.Int64
	var mu sync.Mutex
	connected := map[string]int{}
	m := testkit.NewManager(t, manager.Options{
		RequestObserver: func(ctx context.Context, target string, _ time.Duration, err error) {
			if ctx.Value(ctxKey{}) == "trace-1" && target == "a" && err == nil {
				seen.Add(1)
			}
		},
		AfterConnect: func(ctx context.Context, target string, c *fleare.Conn) error {
			mu.Lock()
			connected[target]++
			mu.Unlock()
			return c.Ping(ctx)
		},
	})
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 3}))
	ctx := context.WithValue(testkit.Context(t), ctxKey{}, "trace-1")
	if err := m.Client("a").Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if seen.Load() != 1 {
		t.Fatalf("observer saw the caller's context %d times, want 1", seen.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if connected["a"] != 3 || len(connected) != 1 {
		t.Fatalf("AfterConnect ran %v, want a: 3", connected)
	}
}
