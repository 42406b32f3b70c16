package manager_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

func TestWatchFile(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2}))
	m := testkit.NewManager(t, manager.Options{Debounce: 10 * time.Millisecond})
	ev := testkit.Record(t, m)
	if err := m.WatchFile(testkit.Context(t), path); err != nil {
		t.Fatal(err)
	}
	testkit.WaitConns(t, s, 2)
	st := m.Status()
	if st.Watching != path || st.Source != path || len(st.Hash) != 64 || st.Generation != 1 {
		t.Fatalf("status after the initial load: %+v", st)
	}
	if err := m.WatchFile(testkit.Context(t), path); err == nil || !strings.Contains(err.Error(), "already watching") {
		t.Fatalf("second WatchFile: %v", err)
	}

	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 5}))
	_, i := ev.Wait(t, 0, "resized", testkit.Is(manager.EventTargetResized, "a"))
	e, i := ev.Wait(t, i, "applied", testkit.Is(manager.EventConfigApplied, ""))
	if e.Generation != 2 || e.Source != path || e.New != "0 to create, 0 to replace, 0 to update, 1 to resize, 0 to delete" {
		t.Fatalf("applied event: %+v", e)
	}
	testkit.WaitConns(t, s, 5)
	applied := m.Status().LastSuccess

	// Invalid content changes nothing, and every problem is reported with
	// its line.
	accepted := s.Accepted()
	bad := strings.Replace(testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1}), "pool: {size: 1}", "pool: {size: 0, sise: 3}", 1)
	testkit.WriteFile(t, path, bad)
	e, i = ev.Wait(t, i, "rejected", testkit.Is(manager.EventConfigRejected, ""))
	if len(e.Errors) != 2 || !strings.Contains(e.Errors[0], path+":") || !strings.Contains(strings.Join(e.Errors, "\n"), `did you mean "size"`) {
		t.Fatalf("rejected event: %+v", e)
	}
	if strings.Contains(e.String(), testkit.Password) {
		t.Fatalf("rejected event shows the password: %v", e)
	}
	st = m.Status()
	if st.LastReload.Result != manager.ReloadRejected || st.Generation != 2 || st.Targets[0].Desired != 5 {
		t.Fatalf("status after a rejected file: %+v", st)
	}
	if applied.IsZero() || !st.LastSuccess.Equal(applied) {
		t.Fatalf("last success %v after a rejection, want %v (the last applied file)", st.LastSuccess, applied)
	}
	if s.Accepted() != accepted || s.Conns() != 5 {
		t.Fatalf("a rejected file touched the pool: accepted %d → %d, %d open", accepted, s.Accepted(), s.Conns())
	}

	// Going back to the content in force needs no plan.
	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 5}))
	testkit.WaitStatus(t, m, "unchanged", func(st manager.Status) bool {
		return st.LastReload.Result == manager.ReloadUnchanged
	})
	if st := m.Status(); st.Generation != 2 || st.Reloads.Unchanged != 1 {
		t.Fatalf("status: %+v", st)
	}
	for _, e := range ev.All()[i:] {
		if e.Type == manager.EventConfigApplied {
			t.Fatalf("content in force applied again: %v", e)
		}
	}
}

func TestWatchFileInvalidAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, path, "version: 1\ntargets:\n  a: {host: ''}\n")
	m := testkit.NewManager(t, manager.Options{})
	err := m.WatchFile(testkit.Context(t), path)
	if err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Fatalf("WatchFile: %v", err)
	}
	if st := m.Status(); st.Watching != "" || st.LastReload == nil || st.LastReload.Result != manager.ReloadRejected {
		t.Fatalf("status: %+v", st)
	}
	// A missing file is an error too, and the manager can watch another.
	if err := m.WatchFile(testkit.Context(t), path+".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WatchFile of a missing file: %v", err)
	}
	testkit.WriteFile(t, path, testkit.ConfigYAML())
	if err := m.WatchFile(testkit.Context(t), path); err != nil {
		t.Fatal(err)
	}
}

// A server that goes away and comes back: the target goes disconnected,
// then connected again by itself.
func TestServerRestartReconnects(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	m := testkit.NewManager(t, manager.Options{HealthCheckInterval: 20 * time.Millisecond})
	ev := testkit.Record(t, m)
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 3}))
	_, i := ev.Wait(t, 0, "connected", testkit.Is(manager.EventConnected, "a"))

	s.Stop()
	_, i = ev.Wait(t, i, "disconnected", testkit.Is(manager.EventDisconnected, "a"))
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	ev.Wait(t, i, "connected again", testkit.Is(manager.EventConnected, "a"))
	testkit.WaitConns(t, s, 3)
	if err := m.Client("a").Ping(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
}

// A subscriber that does not read loses events, which Status counts; the
// manager never waits for it.
func TestSlowSubscriberLosesEvents(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	m := testkit.NewManager(t, manager.Options{EventBuffer: 1})
	_, cancel := m.Subscribe() // never read
	defer cancel()
	for size := 1; size <= 5; size++ {
		testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: size}))
	}
	if st := m.Status(); st.EventsDropped == 0 {
		t.Fatalf("no event counted as dropped: %+v", st)
	}
}
