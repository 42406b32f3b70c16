package manager_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/reconcile"
)

func TestApplyLifecycle(t *testing.T) {
	s1 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	s2 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	ctx := testkit.Context(t)
	a := m.Client("a")

	res := testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s1, Size: 2}, testkit.Target{Name: "b", Srv: s1, Size: 3}))
	if got := res.Plan.Summary()[reconcile.Create]; got != 2 {
		t.Fatalf("plan creates %d targets, want 2:\n%s", got, res.Plan)
	}
	testkit.WaitConns(t, s1, 5)
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	_, i := ev.Wait(t, 0, "created a", testkit.Is(manager.EventTargetCreated, "a"))
	for _, e := range ev.All()[:i] {
		if e.Target == "a" && e.Type != manager.EventTargetCreated {
			t.Fatalf("event %v came before target.created", e)
		}
	}
	ev.Wait(t, i, "connected a", testkit.Is(manager.EventConnected, "a"))

	// Resize in place: no new pool, the server sees the new count.
	res = testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s1, Size: 6}, testkit.Target{Name: "b", Srv: s1, Size: 3}))
	if len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Resize {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	testkit.WaitConns(t, s1, 9)
	e, _ := ev.Wait(t, 0, "resized a", testkit.Is(manager.EventTargetResized, "a"))
	if e.Old != "2" || e.New != "6" {
		t.Fatalf("resized event %v", e)
	}

	// Replace: a moves to s2; b stays.
	res = testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s2, Size: 6}, testkit.Target{Name: "b", Srv: s1, Size: 3}))
	if len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Replace {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	e, _ = ev.Wait(t, 0, "replaced a", testkit.Is(manager.EventTargetReplaced, "a"))
	if e.Old != s1.Addr() || e.New != s2.Addr() {
		t.Fatalf("replaced event %v", e)
	}
	testkit.WaitConns(t, s2, 6)
	testkit.WaitConns(t, s1, 3)
	if err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// Delete: a's calls fail clearly; its server connections close.
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "b", Srv: s1, Size: 3}))
	testkit.WaitConns(t, s2, 0)
	if err := a.Ping(ctx); !errors.Is(err, manager.ErrTargetRemoved) {
		t.Fatalf("Ping after delete: %v, want ErrTargetRemoved", err)
	}
	ev.Wait(t, 0, "deleted a", testkit.Is(manager.EventTargetDeleted, "a"))

	// And back: the same Client works again.
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s2, Size: 1}, testkit.Target{Name: "b", Srv: s1, Size: 3}))
	if err := a.Ping(ctx); err != nil {
		t.Fatalf("Ping after re-create: %v", err)
	}
	if s1.Stranded() != 0 || s2.Stranded() != 0 {
		t.Fatalf("connects stranded: %d, %d (pools dialed one server in parallel)", s1.Stranded(), s2.Stranded())
	}
}

// Applying the configuration in force changes nothing, and is recorded as
// unchanged, with no config.applied, as a file reload of it is.
func TestApplyUnchangedIsEmpty(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	y := testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2})
	first := testkit.Apply(t, m, y)
	_, i := ev.Wait(t, 0, "applied", testkit.Is(manager.EventConfigApplied, ""))
	again := testkit.Apply(t, m, y)
	m.Reject("marker", errors.New("a marker after the second apply"))
	ev.Wait(t, i, "marker", testkit.Is(manager.EventConfigRejected, ""))
	for _, e := range ev.All()[i:] {
		if e.Type == manager.EventConfigApplied {
			t.Fatalf("an apply that changed nothing emitted %v", e)
		}
	}
	if !again.Plan.Empty() || again.Generation != first.Generation {
		t.Fatalf("second apply: generation %d→%d, plan:\n%s", first.Generation, again.Generation, again.Plan)
	}
	if r := m.Status().Reloads; r.Applied != 1 || r.Unchanged != 1 || r.Partial != 0 || r.Rejected != 1 {
		t.Fatalf("reload counts %+v, want 1 applied, 1 unchanged, then the marker rejected", r)
	}

	if p := m.Plan(testkit.Parse(t, y)); !p.Empty() {
		t.Fatalf("Plan of the same config:\n%s", p)
	}
}

func TestUnknownTarget(t *testing.T) {
	m := testkit.NewManager(t, manager.Options{})
	err := m.Client("nope").Ping(testkit.Context(t))
	if !errors.Is(err, manager.ErrUnknownTarget) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestUpdateInPlace(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2}))
	testkit.WaitConns(t, s, 2)
	accepted := s.Accepted()

	res := testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2, Request: "50ms"}))
	if len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Update {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	e, _ := ev.Wait(t, 0, "updated", testkit.Is(manager.EventTargetUpdated, "a"))
	if len(e.Changes) != 1 || !strings.Contains(e.Changes[0], "timeouts.request 5s → 50ms") {
		t.Fatalf("updated event: %v", e)
	}
	if s.Accepted() != accepted {
		t.Fatalf("an in-place update opened connections: accepted %d → %d", accepted, s.Accepted())
	}
	// The new request timeout is in force.
	s.SetLatency(200 * time.Millisecond)
	err := m.Client("a").Ping(testkit.Context(t))
	if !errors.Is(err, fleare.ErrTimeout) {
		t.Fatalf("Ping with a 50ms timeout on a 200ms server: %v", err)
	}
}

// A target whose server is down stays configured, reports the error, and
// connects by itself once the server is up.
func TestCreateUnreachableConvergesLater(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	s.Stop()
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	res, err := m.Apply(testkit.Context(t), testkit.Parse(t, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2})))
	if err == nil || !strings.Contains(err.Error(), `target "a": create`) {
		t.Fatalf("Apply: %v", err)
	}
	if res.Outcomes[0].Err == nil {
		t.Fatal("outcome has no error")
	}
	st := testkit.WaitStatus(t, m, "a in error", func(st manager.Status) bool {
		return len(st.Targets) == 1 && st.Targets[0].State == fleare.StateError
	})
	if st.LastReload.Result != manager.ReloadPartial || len(st.LastReload.Errors) != 1 {
		t.Fatalf("last reload: %+v", st.LastReload)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitConns(t, s, 2)
	ev.Wait(t, 0, "connected", testkit.Is(manager.EventConnected, "a"))
	if err := m.Client("a").Ping(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
}

// A replace to an endpoint that is down keeps the old pool serving, and
// switches once the new endpoint comes up.
func TestReplaceWaitsForNewPool(t *testing.T) {
	s1 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	s2 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	s2.Stop()
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	a := m.Client("a")
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s1, Size: 2}))

	_, err := m.Apply(testkit.Context(t), testkit.Parse(t, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s2, Size: 2})))
	if err == nil || !strings.Contains(err.Error(), "keeps serving") {
		t.Fatalf("Apply: %v", err)
	}
	if err := a.Ping(testkit.Context(t)); err != nil {
		t.Fatalf("Ping while the replacement is pending: %v", err)
	}
	st := m.Status()
	if p := st.Targets[0].Pending; p == nil || p.Addr != s2.Addr() || st.Targets[0].Addr != s1.Addr() {
		t.Fatalf("status: %+v", st.Targets[0])
	}
	// The plan does not repeat the replace: the target converges already.
	if p := m.Plan(testkit.Parse(t, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s2, Size: 2}))); !p.Empty() {
		t.Fatalf("plan while pending:\n%s", p)
	}

	if err := s2.Restart(); err != nil {
		t.Fatal(err)
	}
	ev.Wait(t, 0, "replaced", testkit.Is(manager.EventTargetReplaced, "a"))
	testkit.WaitConns(t, s2, 2)
	testkit.WaitConns(t, s1, 0)
	if err := a.Ping(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
}

// Calls keep succeeding while the target is replaced back and forth and
// resized under them.
func TestClientAcrossReplaces(t *testing.T) {
	s1 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	s2 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	m := testkit.NewManager(t, manager.Options{})
	a := m.Client("a")
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s1, Size: 4}))

	load := testkit.StartLoad(testkit.Context(t), 32, 10*time.Second, a.Ping)
	servers := []*fleartest.Server{s1, s2}
	for i := range 20 {
		testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: servers[(i+1)%2], Size: 1 + i%8}))
	}
	if calls := load.Stop(); calls.Failed != 0 || calls.OK == 0 {
		t.Fatalf("%d of %d calls failed; first: %v", calls.Failed, calls.OK+calls.Failed, calls.First)
	}
	last := 1 + 19%8
	testkit.WaitConns(t, s1, last) // 20 applies: the last one is on s1
	testkit.WaitConns(t, s2, 0)
}

func TestCloseEndsEverything(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	m, err := manager.New(manager.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := m.Subscribe()
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 3}))
	testkit.WaitConns(t, s, 3)
	if err := m.Close(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	testkit.WaitConns(t, s, 0)
	if err := m.Client("a").Ping(testkit.Context(t)); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Ping after Close: %v", err)
	}
	if _, err := m.Apply(testkit.Context(t), testkit.Parse(t, testkit.ConfigYAML())); !errors.Is(err, manager.ErrClosed) {
		t.Fatalf("Apply after Close: %v", err)
	}
	var sawClose bool
	for e := range ch { // closed by Close
		sawClose = sawClose || e.Type == manager.EventClose
	}
	if !sawClose {
		t.Fatal("no close event")
	}
	if err := m.Close(testkit.Context(t)); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A drain is bounded: a caller holding a connection cannot hold a delete
// forever; past the drain timeout its connection is closed and an event
// says so.
func TestDrainIsBounded(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	y := strings.Replace(testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1}), "drain: 2s", "drain: 100ms", 1)
	testkit.Apply(t, m, y)
	s.SetLatency(time.Hour) // the next request never gets its reply
	done := make(chan error, 1)
	go func() { done <- m.Client("a").Ping(testkit.Context(t)) }()
	testkit.WaitStatus(t, m, "a busy", func(st manager.Status) bool { return len(st.Targets) == 1 && st.Targets[0].InUse == 1 })

	testkit.Apply(t, m, testkit.ConfigYAML())
	e, _ := ev.Wait(t, 0, "drained", testkit.Is(manager.EventTargetDrained, "a"))
	if !strings.Contains(e.Error, "1 connection(s) still in use") {
		t.Fatalf("drained event: %v", e)
	}
	if err := <-done; !errors.Is(err, fleare.ErrBroken) {
		t.Fatalf("the cut-off call: %v", err)
	}
}

func TestOutcomeJSON(t *testing.T) {
	b, err := json.Marshal(manager.Outcome{Target: "a", Action: reconcile.Create, Err: errors.New("boom"), Took: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"target":"a","action":"create","took":"1s","error":"boom"}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}

// A pipelined target serves many callers over few connections, and turning
// pipelining off replaces its pool without failing a call.
func TestPipelinedTarget(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	m := testkit.NewManager(t, manager.Options{})
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2, Pipeline: 8}))
	load := testkit.StartLoad(testkit.Context(t), 32, 10*time.Second, m.Client("a").Ping)
	load.WaitOK(t, 500)

	res := testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2, Pipeline: 1}))
	if len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Replace {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	before := load.Stats().OK
	testkit.WaitStatus(t, m, "calls on the new pool", func(manager.Status) bool { return load.Stats().OK > before+500 })
	if calls := load.Stop(); calls.Failed != 0 {
		t.Fatalf("%d calls failed; first: %v", calls.Failed, calls.First)
	}
	testkit.WaitConns(t, s, 2)
}

// A new pipelining depth applies in place: the connections stay, and no
// call fails. (0 for 1, both off, is an in-place no-op too:
// reconcile.TestDiffPipeline.)
func TestPipelineDepthInPlace(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	m := testkit.NewManager(t, manager.Options{})
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2, Pipeline: 8}))
	load := testkit.StartLoad(testkit.Context(t), 32, 10*time.Second, m.Client("a").Ping)
	load.WaitOK(t, 500)
	accepted := s.Accepted()
	for _, depth := range []int{16, 2} {
		res := testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2, Pipeline: depth}))
		if len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Update {
			t.Fatalf("depth %d: plan:\n%s", depth, res.Plan)
		}
		before := load.Stats().OK
		testkit.WaitStatus(t, m, "calls after the change", func(manager.Status) bool { return load.Stats().OK > before+500 })
	}
	if calls := load.Stop(); calls.Failed != 0 {
		t.Fatalf("%d calls failed; first: %v", calls.Failed, calls.First)
	}
	if got := s.Accepted(); got != accepted {
		t.Fatalf("the server accepted %d connections, want %d: a new depth needs no new connection", got, accepted)
	}
}
