package manager_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
)

// writeFile replaces path's content in place.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatchFile(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	writeFile(t, path, configYAML(tgt{name: "a", srv: s, size: 2}))
	m := newManager(t, manager.Options{Debounce: 10 * time.Millisecond})
	ev := record(t, m)
	if err := m.WatchFile(testCtx(t), path); err != nil {
		t.Fatal(err)
	}
	waitConns(t, s, 2)
	st := m.Status()
	if st.Watching != path || st.Source != path || len(st.Hash) != 64 || st.Generation != 1 {
		t.Fatalf("status after the initial load: %+v", st)
	}
	if err := m.WatchFile(testCtx(t), path); err == nil || !strings.Contains(err.Error(), "already watching") {
		t.Fatalf("second WatchFile: %v", err)
	}

	writeFile(t, path, configYAML(tgt{name: "a", srv: s, size: 5}))
	_, i := ev.wait(t, 0, "resized", isType(manager.EventTargetResized, "a"))
	e, i := ev.wait(t, i, "applied", isType(manager.EventConfigApplied, ""))
	if e.Generation != 2 || e.Source != path || e.New != "0 to create, 0 to replace, 0 to update, 1 to resize, 0 to delete" {
		t.Fatalf("applied event: %+v", e)
	}
	waitConns(t, s, 5)

	// Invalid content changes nothing, and every problem is reported with
	// its line.
	accepted := s.Accepted()
	bad := strings.Replace(configYAML(tgt{name: "a", srv: s, size: 1}), "pool: {size: 1}", "pool: {size: 0, sise: 3}", 1)
	writeFile(t, path, bad)
	e, i = ev.wait(t, i, "rejected", isType(manager.EventConfigRejected, ""))
	if len(e.Errors) != 2 || !strings.Contains(e.Errors[0], path+":") || !strings.Contains(strings.Join(e.Errors, "\n"), `did you mean "size"`) {
		t.Fatalf("rejected event: %+v", e)
	}
	if strings.Contains(e.String(), testPassword) {
		t.Fatalf("rejected event shows the password: %v", e)
	}
	st = m.Status()
	if st.LastReload.Result != manager.ReloadRejected || st.Generation != 2 || st.Targets[0].Desired != 5 {
		t.Fatalf("status after a rejected file: %+v", st)
	}
	if s.Accepted() != accepted || s.Conns() != 5 {
		t.Fatalf("a rejected file touched the pool: accepted %d → %d, %d open", accepted, s.Accepted(), s.Conns())
	}

	// Going back to the content in force needs no plan.
	writeFile(t, path, configYAML(tgt{name: "a", srv: s, size: 5}))
	waitStatus(t, m, "unchanged", func(st manager.Status) bool {
		return st.LastReload.Result == manager.ReloadUnchanged
	})
	if st := m.Status(); st.Generation != 2 || st.Reloads.Unchanged != 1 {
		t.Fatalf("status: %+v", st)
	}
	for _, e := range ev.all()[i:] {
		if e.Type == manager.EventConfigApplied {
			t.Fatalf("content in force applied again: %v", e)
		}
	}
}

func TestWatchFileInvalidAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	writeFile(t, path, "version: 1\ntargets:\n  a: {host: ''}\n")
	m := newManager(t, manager.Options{})
	err := m.WatchFile(testCtx(t), path)
	if err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Fatalf("WatchFile: %v", err)
	}
	if st := m.Status(); st.Watching != "" || st.LastReload == nil || st.LastReload.Result != manager.ReloadRejected {
		t.Fatalf("status: %+v", st)
	}
	// A missing file is an error too, and the manager can watch another.
	if err := m.WatchFile(testCtx(t), path+".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WatchFile of a missing file: %v", err)
	}
	writeFile(t, path, configYAML())
	if err := m.WatchFile(testCtx(t), path); err != nil {
		t.Fatal(err)
	}
}

// A server that goes away and comes back: the target goes disconnected,
// then connected again by itself.
func TestServerRestartReconnects(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	m := newManager(t, manager.Options{HealthCheckInterval: 20 * time.Millisecond})
	ev := record(t, m)
	apply(t, m, configYAML(tgt{name: "a", srv: s, size: 3}))
	_, i := ev.wait(t, 0, "connected", isType(manager.EventConnected, "a"))

	s.Stop()
	_, i = ev.wait(t, i, "disconnected", isType(manager.EventDisconnected, "a"))
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, i, "connected again", isType(manager.EventConnected, "a"))
	waitConns(t, s, 3)
	if err := m.Client("a").Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}
