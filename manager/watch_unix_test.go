//go:build unix

package manager_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/poll"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// With ReloadOnSIGHUP, a SIGHUP reads the file at once, whatever the
// watcher has seen: here the debounce is an hour and polling is off, so
// only the signal can bring the change in.
func TestReloadOnSIGHUP(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1}))
	m := testkit.NewManager(t, manager.Options{Debounce: time.Hour, PollInterval: -1, ReloadOnSIGHUP: true})
	ev := testkit.Record(t, m)
	if err := m.WatchFile(testkit.Context(t), path); err != nil {
		t.Fatal(err)
	}
	_, i := ev.Wait(t, 0, "initial load", testkit.Is(manager.EventConfigApplied, ""))

	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 3}))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ev.Wait(t, i, "resized on SIGHUP", testkit.Is(manager.EventTargetResized, "a"))
	testkit.WaitConns(t, s, 3)
}

// A SIGHUP that finds the file holding the configuration in force changes
// nothing, emits no config.applied, and logs exactly one line saying so.
func TestSIGHUPUnchangedLogsOneLine(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1}))
	log := &lineLog{}
	m := testkit.NewManager(t, manager.Options{Logger: slog.New(log.handler()), PollInterval: -1, ReloadOnSIGHUP: true})
	ev := testkit.Record(t, m)
	if err := m.WatchFile(testkit.Context(t), path); err != nil {
		t.Fatal(err)
	}
	_, i := ev.Wait(t, 0, "initial load", testkit.Is(manager.EventConfigApplied, ""))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitStatus(t, m, "the SIGHUP recorded", func(st manager.Status) bool { return st.Reloads.Unchanged == 1 })
	m.Reject("marker", errors.New("marker"))
	if !poll.For(poll.Timeout, func() bool { return len(log.matching("source=marker")) == 1 }) {
		t.Fatal("the marker was not logged")
	}
	lines := log.matching("config.unchanged")
	if len(lines) != 1 || !strings.Contains(lines[0], "via=SIGHUP") || !strings.Contains(lines[0], "source="+path) {
		t.Fatalf("SIGHUP logged %q, want one config.unchanged line", lines)
	}
	for _, e := range ev.All()[i:] {
		if e.Type == manager.EventConfigApplied {
			t.Fatalf("a SIGHUP that found nothing new emitted %v", e)
		}
	}
	if st := m.Status(); st.Generation != 1 || st.Reloads.Unchanged != 1 || st.Reloads.Applied != 1 {
		t.Fatalf("status after the SIGHUP: %+v", st)
	}
}
