package fleare_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testUser = "root"
	testPass = "hunter2-do-not-leak"
)

var testUsers = map[string]string{testUser: testPass}

// testCtx returns a context that ends with the test, or after 20s.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fastOptions are client options with test-sized timings.
func fastOptions(size int) fleare.Options {
	return fleare.Options{
		PoolSize:            size,
		Username:            testUser,
		Password:            testPass,
		ConnectTimeout:      2 * time.Second,
		RequestTimeout:      5 * time.Second,
		RetryInterval:       5 * time.Millisecond,
		HealthCheckInterval: 10 * time.Millisecond,
	}
}

// plainOptions are fastOptions with pipelining off: one request per
// connection at a time, for the tests of the plain pool's behaviour.
func plainOptions(size int) fleare.Options {
	o := fastOptions(size)
	o.Pipeline = 1
	return o
}

// newClient returns a client for srv, closed when the test ends.
func newClient(t testing.TB, srv *fleartest.Server, o fleare.Options) *fleare.Client {
	t.Helper()
	c := fleare.NewClient(srv.Host(), srv.Port(), o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// connect returns a connected client for srv.
func connect(t testing.TB, srv *fleartest.Server, o fleare.Options) *fleare.Client {
	t.Helper()
	c := newClient(t, srv, o)
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

// eventLog records events and lets a test wait for one.
type eventLog struct {
	mu      sync.Mutex
	events  []fleare.Event
	changed chan struct{}
}

func newEventLog() *eventLog { return &eventLog{changed: make(chan struct{})} }

func (l *eventLog) record(e fleare.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *eventLog) snapshot() []fleare.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// waitFor waits until cond holds for the events so far.
func (l *eventLog) waitFor(t testing.TB, what string, cond func([]fleare.Event) bool) {
	t.Helper()
	ctx := testCtx(t)
	for {
		l.mu.Lock()
		evs, ch := slices.Clone(l.events), l.changed
		l.mu.Unlock()
		if cond(evs) {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; events: %v", what, evs)
		}
	}
}

func count(evs []fleare.Event, typ fleare.EventType) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func lastState(evs []fleare.Event) fleare.State {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == fleare.EventStateChanged {
			return evs[i].State
		}
	}
	return fleare.StateDisconnected
}

// waitStats polls the client's stats until cond holds (for gauges that no
// event announces).
func waitStats(t testing.TB, c *fleare.Client, what string, cond func(fleare.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(c.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stats: %+v", what, c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// rawConn opens a TCP connection that says nothing.
func rawConn(t testing.TB, srv *fleartest.Server) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return nc
}
