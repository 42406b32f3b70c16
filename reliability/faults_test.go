package reliability_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/poll"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// waitFailures waits until the load has seen at least one failed call, so
// that a fault is known to have reached the callers.
func waitFailures(t *testing.T, l *testkit.Load) {
	t.Helper()
	poll.Until(t, "the fault to reach a caller", func() bool { return l.Stats().Failed > 0 })
}

// The server restarts mid-load: callers get clear errors while it is away,
// and the target reconnects by itself when it is back.
func TestFaultServerRestart(t *testing.T) {
	f := newFixture(t, fleartest.Options{Strict: true}, 0)
	f.load.Reset()
	from := f.ev.Len()

	f.srv.Stop()
	waitFailures(t, f.load)
	f.sequence(t, from, manager.EventDisconnected)
	if err := f.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	during := f.load.Stats()
	f.load.WaitOK(t, 1000)

	failuresAreClear(t, during, clientErrors...)
	f.sequence(t, from, manager.EventError, manager.EventDisconnected, manager.EventConnected)
	testkit.WaitConns(t, f.srv, size)
	t.Logf("while the server was away: %d calls failed, %d succeeded, slowest %v", during.Failed, during.OK, during.Slowest)
}

// Every connection is cut at once: in-flight calls fail, the pool refills
// by itself.
func TestFaultAllConnectionsKilled(t *testing.T) {
	f := newFixture(t, fleartest.Options{Strict: true}, 0)
	f.load.Reset()
	from := f.ev.Len()

	f.srv.CloseClientConnections()
	f.sequence(t, from, manager.EventError)
	f.load.WaitOK(t, 1000)
	testkit.WaitConns(t, f.srv, size)
	failuresAreClear(t, f.load.Stats(), clientErrors...)
	if st := f.m.Status().Targets[0]; st.Replaced == 0 || st.State != fleare.StateConnected {
		t.Fatalf("status after the cut: %+v", st)
	}
}

// The server accepts connections and never answers their auth frame: dials
// time out within the connect timeout, callers get clear errors, an Apply
// that needs a new pool there returns in bounded time, and all heals when
// the server answers again.
func TestFaultAuthNeverAnswered(t *testing.T) {
	f := newFixture(t, fleartest.Options{SerialAccept: true}, 0)
	f.load.Reset()
	from := f.ev.Len()

	f.srv.StallNew(true)
	f.srv.CloseClientConnections()
	waitFailures(t, f.load)
	f.sequence(t, from, manager.EventError, manager.EventDisconnected)

	start := time.Now()
	cfg := timings.ConfigYAML(testkit.Target{Name: "a", Srv: f.srv, Size: size}, testkit.Target{Name: "b", Srv: f.srv, Size: 1})
	// Forced: the fixture watches a file, which is otherwise the only source.
	_, err := f.m.ApplyWith(testkit.Context(t), testkit.Parse(t, cfg), manager.ApplyOptions{Force: true})
	if took := time.Since(start); err == nil || took > 300*time.Millisecond+slack {
		t.Fatalf("Apply of a target on a hung server: %v after %v", err, took)
	}
	if !strings.Contains(err.Error(), `target "b": create`) || !strings.Contains(err.Error(), "0 of 1 connections open") {
		t.Fatalf("Apply error: %v", err)
	}

	f.srv.StallNew(false)
	during := f.load.Stats()
	f.load.WaitOK(t, 1000)
	failuresAreClear(t, during, clientErrors...)
	testkit.WaitConns(t, f.srv, size+1)
	f.sequence(t, from, manager.EventConnected)
}

// The server turns slow, past the request timeout: calls time out within
// it, their connections are replaced, and service returns when the server
// speeds up.
func TestFaultSlowServer(t *testing.T) {
	f := newFixture(t, fleartest.Options{Strict: true}, 0)
	f.load.Reset()

	f.srv.SetLatency(2 * requestTimeout)
	waitFailures(t, f.load)
	testkit.WaitStatus(t, f.m, "timed-out connections replaced", func(st manager.Status) bool {
		return len(st.Targets) == 1 && st.Targets[0].Replaced >= size
	})
	during := f.load.Stats()
	f.srv.SetLatency(0)
	f.load.WaitOK(t, 1000)

	failuresAreClear(t, during, fleare.ErrTimeout, fleare.ErrUnavailable, fleare.ErrBroken)
	if !errors.Is(during.First, fleare.ErrTimeout) {
		t.Fatalf("first failure: %v, want a timeout", during.First)
	}
	testkit.WaitConns(t, f.srv, size)
}

// The server's credentials change: reconnects fail authentication, callers
// are told so at once, and the target recovers when its file gets the new
// password (a replace, make-before-break).
func TestFaultCredentialsChanged(t *testing.T) {
	f := newFixture(t, fleartest.Options{Strict: true}, 0)
	f.load.Reset()
	from := f.ev.Len()
	const rotated = "rotated-Known-To-Tests"

	f.srv.SetUsers(map[string]string{testkit.User: rotated})
	f.srv.CloseClientConnections()
	e, _ := f.ev.Wait(t, from, "auth failure", func(e manager.Event) bool {
		return e.Type == manager.EventError && strings.Contains(e.Error, "authentication")
	})
	if strings.Contains(e.Error, testkit.Password) || strings.Contains(e.Error, rotated) {
		t.Fatalf("the event shows a password: %v", e)
	}
	testkit.WaitStatus(t, f.m, "a in error", func(st manager.Status) bool { return st.Targets[0].State == fleare.StateError })
	f.load.Reset()
	waitFailures(t, f.load)
	var ae *fleare.AuthError
	if s := f.load.Stats(); !errors.As(s.First, &ae) || !errors.Is(s.First, fleare.ErrUnavailable) {
		t.Fatalf("callers see %v, want ErrUnavailable wrapping an *AuthError", s.First)
	}
	failuresAreClear(t, f.load.Stats(), fleare.ErrUnavailable, fleare.ErrBroken, fleare.ErrTimeout)

	testkit.WriteFile(t, f.path, f.config(rotated))
	e, _ = f.ev.Wait(t, from, "replaced", testkit.Is(manager.EventTargetReplaced, "a"))
	if !strings.Contains(strings.Join(e.Changes, ";"), "password changed") || strings.Contains(e.String(), rotated) {
		t.Fatalf("replaced event: %v", e)
	}
	f.load.WaitOK(t, 1000)
	testkit.WaitConns(t, f.srv, size)
}
