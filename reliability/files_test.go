package reliability_test

import (
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// badFile runs a fault on the watched file under load, and checks that the
// file is rejected with an error that says why, that no call failed and no
// connection was opened or closed, then that the good file is taken again.
func badFile(t *testing.T, f *fixture, wantErr string, fault, heal func()) {
	t.Helper()
	f.load.Reset()
	accepted := f.srv.Accepted()
	from := f.ev.Len()

	fault()
	e, next := f.ev.Wait(t, from, "rejected", testkit.Is(manager.EventConfigRejected, ""))
	if !strings.Contains(strings.Join(e.Errors, "\n"), wantErr) {
		t.Fatalf("rejected event does not say %q: %v", wantErr, e)
	}
	st := f.m.Status()
	if st.LastReload.Result != manager.ReloadRejected || st.Generation != 1 || len(st.Targets) != 1 {
		t.Fatalf("status after the fault: %+v", st)
	}
	f.untouched(t, accepted)

	heal()
	testkit.WaitStatus(t, f.m, "file taken again", func(st manager.Status) bool {
		return st.LastReload.Result != manager.ReloadRejected
	})
	if s := f.load.Stats(); s.Failed != 0 {
		t.Fatalf("%d calls failed during a file fault; first: %v", s.Failed, s.First)
	}
	f.untouched(t, accepted)
	for _, e := range f.ev.All()[next:] {
		if e.Type == manager.EventConfigRejected {
			t.Fatalf("rejected again after healing: %v", e)
		}
	}
}

func TestFaultConfigFileDeleted(t *testing.T) {
	f := newFixture(t, fleartest.Options{}, 0)
	badFile(t, f, "no such file",
		func() { must(t, os.Remove(f.path)) },
		func() { testkit.WriteFile(t, f.path, f.config()) })
	if st := f.m.Status(); st.LastReload.Result != manager.ReloadUnchanged {
		t.Fatalf("the same file back: %+v", st.LastReload)
	}
}

func TestFaultConfigFileGarbage(t *testing.T) {
	f := newFixture(t, fleartest.Options{}, 0)
	garbage := make([]byte, 4096)
	rand.Read(garbage)
	badFile(t, f, f.path+":",
		func() { testkit.WriteFile(t, f.path, string(garbage)) },
		func() { testkit.WriteFile(t, f.path, f.config()+"# comment\n") })
	// The same settings with a comment: taken, and changing nothing.
	if st := f.m.Status(); st.LastReload.Result != manager.ReloadUnchanged {
		t.Fatalf("a valid file after garbage: %+v", st.LastReload)
	}
}

// A file cut short in the middle of a key. (A file cut at a line boundary
// can be valid YAML meaning something else: no reader can tell, which is
// why tools should write a temporary file and rename it.)
func TestFaultConfigFileTruncated(t *testing.T) {
	f := newFixture(t, fleartest.Options{}, 0)
	full := f.config()
	cut := strings.Index(full, "password:") + len("pass")
	badFile(t, f, "YAML syntax error",
		func() { testkit.WriteFile(t, f.path, full[:cut]) },
		func() { testkit.WriteFile(t, f.path, full) })
}

func TestFaultConfigFileUnreadable(t *testing.T) {
	if !runAsNobody(t) {
		return
	}
	f := newFixture(t, fleartest.Options{}, 0)
	badFile(t, f, "permission denied",
		func() { must(t, os.Chmod(f.path, 0)) },
		func() { must(t, os.Chmod(f.path, 0o600)) })
}

// A writer that pauses half-way through a file: the half it left is not
// rejected when the rest follows within the settling time (four debounce
// periods, at least 250ms), and the whole file is applied.
func TestFaultConfigFileMidWrite(t *testing.T) {
	const debounce = 50 * time.Millisecond // the default
	f := newFixture(t, fleartest.Options{}, debounce)
	from := f.ev.Len()
	next := timings.ConfigYAML(testkit.Target{Name: "a", Srv: f.srv, Size: size + 2})
	testkit.WriteInPlace(t, f.path, next[:len(next)/2])
	time.Sleep(2 * debounce) // the writer's pause: past the debounce, well within the settling time
	testkit.WriteInPlace(t, f.path, next)
	f.sequence(t, from, manager.EventTargetResized, manager.EventConfigApplied)
	for _, e := range f.ev.All()[from:] {
		if e.Type == manager.EventConfigRejected {
			t.Fatalf("a file met mid-write was rejected: %v", e)
		}
	}
	testkit.WaitConns(t, f.srv, size+2)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
