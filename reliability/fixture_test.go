package reliability_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	callers = 64
	size    = 4
	// requestTimeout is the configured request timeout; no call may take
	// much longer, whatever the fault.
	requestTimeout = 500 * time.Millisecond
	// callDeadline bounds each call from outside: a call that reached it
	// would have hung.
	callDeadline = 5 * time.Second
	// slack is what scheduling under -race may add to a call's duration.
	slack = time.Second
)

// timings make faults show and heal quickly.
var timings = testkit.Timings{Connect: "300ms", Request: "500ms", Drain: "1s", RetryInterval: "20ms", MaxRetries: 2}

// fixture is a manager watching a file with one target "a" on server srv,
// under the load of 64 callers.
type fixture struct {
	srv  *fleartest.Server
	m    *manager.Manager
	path string
	ev   *testkit.Recorder
	load *testkit.Load
}

// newFixture starts the fixture; debounce is the manager's, 10ms if 0.
func newFixture(t *testing.T, o fleartest.Options, debounce time.Duration) *fixture {
	if debounce == 0 {
		debounce = 10 * time.Millisecond
	}
	o.Users = testkit.Users()
	f := &fixture{srv: fleartest.NewServer(t, o)}
	f.path = filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, f.path, f.config())
	f.m = testkit.NewManager(t, manager.Options{Debounce: debounce, HealthCheckInterval: 20 * time.Millisecond})
	f.ev = testkit.Record(t, f.m)
	ctx := testkit.Context(t)
	if err := f.m.WatchFile(ctx, f.path); err != nil {
		t.Fatal(err)
	}
	f.load = testkit.StartLoad(ctx, callers, callDeadline, f.m.Client("a").Ping)
	t.Cleanup(func() { f.load.Stop() })
	f.load.WaitOK(t, 500)
	return f
}

// config renders the fixture's configuration, with password pw if set.
func (f *fixture) config(pw ...string) string {
	tg := testkit.Target{Name: "a", Srv: f.srv, Size: size}
	if len(pw) > 0 {
		tg.Password = pw[0]
	}
	return timings.ConfigYAML(tg)
}

// failuresAreClear checks that every failed call returned a typed error
// within the request timeout.
func failuresAreClear(t *testing.T, s testkit.LoadStats, allowed ...error) {
	t.Helper()
	if s.Slowest > requestTimeout+slack {
		t.Errorf("a call took %v; the request timeout is %v", s.Slowest, requestTimeout)
	}
	for _, err := range s.Errors {
		if !slices.ContainsFunc(allowed, func(want error) bool { return errors.Is(err, want) }) {
			t.Errorf("unexpected error: %v", err)
			return
		}
		if strings.Contains(err.Error(), testkit.Password) {
			t.Fatalf("an error shows the password: %v", err)
		}
	}
}

// untouched checks that nothing was dialed or closed on srv since accepted
// was read, and the pool is whole.
func (f *fixture) untouched(t *testing.T, accepted uint64) {
	t.Helper()
	if f.srv.Accepted() != accepted || f.srv.Conns() != size {
		t.Fatalf("pool touched: accepted %d → %d, %d connections open (want %d)",
			accepted, f.srv.Accepted(), f.srv.Conns(), size)
	}
}

// sequence checks that events from index from on contain want, in order,
// for target a (or the manager when the type is a config event).
func (f *fixture) sequence(t *testing.T, from int, want ...manager.EventType) {
	t.Helper()
	i := from
	for _, typ := range want {
		target := "a"
		if strings.HasPrefix(string(typ), "config.") {
			target = ""
		}
		_, i = f.ev.Wait(t, i, string(typ), testkit.Is(typ, target))
	}
}

// clientErrors are the errors a caller may see while a server is away.
var clientErrors = []error{fleare.ErrBroken, fleare.ErrUnavailable, fleare.ErrTimeout}
