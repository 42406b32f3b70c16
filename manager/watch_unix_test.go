//go:build unix

package manager_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
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
