package fleare_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// pingAll starts n goroutines that each ping once, and returns a function
// that waits for them and returns their errors.
func pingAll(ctx context.Context, c *fleare.Client, n int) func() []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = c.Ping(ctx) })
	}
	return func() []error { wg.Wait(); return errs }
}

// A paused client sends nothing: requests wait until Resume, then all
// succeed. Events announce both.
func TestPauseHoldsUntilResume(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	log := newEventLog()
	o := fastOptions(2)
	o.OnEvent = log.record
	c := connect(t, srv, o)
	ctx := testCtx(t)

	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.Paused() {
		t.Fatal("Paused() = false after Pause")
	}
	before := srv.Requests()
	wait := pingAll(ctx, c, 8)
	waitStats(t, c, "8 held", func(s fleare.Stats) bool { return s.Held == 8 && s.Paused })
	if got := srv.Requests(); got != before {
		t.Fatalf("server saw %d requests while paused", got-before)
	}
	c.Resume()
	for i, err := range wait() {
		if err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
	s := c.Stats()
	if s.Paused || s.Held != 0 || s.Holds != 8 || s.HoldTime <= 0 || s.Errors != 0 {
		t.Fatalf("after Resume: %+v", s)
	}
	log.waitFor(t, "paused and resumed", func(evs []fleare.Event) bool {
		return count(evs, fleare.EventPaused) == 1 && count(evs, fleare.EventResumed) == 1
	})
}

// Pause lets a request in flight finish before it returns.
func TestPauseWaitsForRequestsInFlight(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(2))
	ctx := testCtx(t)
	srv.SetLatency(100 * time.Millisecond)
	errc := make(chan error, 1)
	go func() { errc <- c.Ping(ctx) }()
	waitStats(t, c, "a request in flight", func(s fleare.Stats) bool { return s.InFlight == 1 })
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	// The request gives its connection back before Ping returns to its
	// caller, so the pool's count, not the caller's return, is what Pause
	// must have waited for.
	if s := c.Stats(); s.InFlight != 0 || s.Requests != 1 {
		t.Fatalf("Pause returned with the request still in flight: %+v", s)
	}
	if err := <-errc; err != nil {
		t.Fatalf("request in flight during Pause: %v", err)
	}
	c.Resume()
}

// Pause whose context ends first says how many requests are in flight, and
// the client stays paused.
func TestPauseContextEnds(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(1))
	ctx := testCtx(t)
	srv.SetLatency(time.Hour)
	go func() { _ = c.Ping(ctx) }()
	waitStats(t, c, "a request in flight", func(s fleare.Stats) bool { return s.InFlight == 1 })
	pctx, cancel := context.WithCancel(ctx)
	cancel()
	err := c.Pause(pctx)
	if !errors.Is(err, context.Canceled) || !c.Paused() {
		t.Fatalf("Pause = %v, paused %v; want context.Canceled and paused", err, c.Paused())
	}
	srv.SetLatency(0)
	c.Resume()
}

// A held request ends with its own context: canceled or past its deadline,
// it gets that error, never sent.
func TestPausedCallerContextEnds(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(1))
	ctx := testCtx(t)
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	wait := pingAll(cctx, c, 1)
	waitStats(t, c, "1 held", func(s fleare.Stats) bool { return s.Held == 1 })
	cancel()
	err := wait()[0]
	if !errors.Is(err, context.Canceled) || !fleare.SafeToRetry(err) {
		t.Fatalf("canceled while held: %v; want context.Canceled, safe to retry", err)
	}

	dctx, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	err = c.Ping(dctx)
	var te *fleare.TimeoutError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &te) || !fleare.SafeToRetry(err) {
		t.Fatalf("deadline while held: %v; want a *TimeoutError, context.DeadlineExceeded, safe to retry", err)
	}
	if s := c.Stats(); s.Held != 0 || s.Requests != 0 || s.Errors != 2 {
		t.Fatalf("stats %+v", s)
	}
	c.Resume()
}

// Held requests count against MaxQueue: beyond it, ErrQueueFull at once.
func TestPauseQueueLimit(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	o := fastOptions(1)
	o.MaxQueue = 2
	c := connect(t, srv, o)
	ctx := testCtx(t)
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	wait := pingAll(ctx, c, 2)
	waitStats(t, c, "2 held", func(s fleare.Stats) bool { return s.Held == 2 })
	if err := c.Ping(ctx); !errors.Is(err, fleare.ErrQueueFull) {
		t.Fatalf("third held request: %v, want ErrQueueFull", err)
	}
	c.Resume()
	for _, err := range wait() {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.QueueFull != 1 {
		t.Fatalf("QueueFull = %d, want 1", s.QueueFull)
	}
}

// Close ends a pause: held requests fail with ErrClosed.
func TestCloseWhilePaused(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(1))
	ctx := testCtx(t)
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	wait := pingAll(ctx, c, 3)
	waitStats(t, c, "3 held", func(s fleare.Stats) bool { return s.Held == 3 })
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, err := range wait() {
		if !errors.Is(err, fleare.ErrClosed) {
			t.Fatalf("held request after Close: %v, want ErrClosed", err)
		}
	}
	if err := c.Pause(ctx); !errors.Is(err, fleare.ErrClosed) {
		t.Fatalf("Pause after Close: %v", err)
	}
}

// load pings from n goroutines until stopped, and counts the outcomes.
type load struct {
	stop     context.CancelFunc
	wg       sync.WaitGroup
	ok, fail atomic.Int64
	first    atomic.Value
}

func startLoad(ctx context.Context, c *fleare.Client, n int) *load {
	l := &load{}
	lctx, stop := context.WithCancel(ctx)
	l.stop = stop
	for range n {
		l.wg.Go(func() {
			for lctx.Err() == nil {
				if err := c.Ping(ctx); err != nil {
					l.fail.Add(1)
					l.first.CompareAndSwap(nil, err)
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	return l
}

func (l *load) finish(t *testing.T) {
	t.Helper()
	l.stop()
	l.wg.Wait()
	if l.fail.Load() != 0 {
		t.Fatalf("%d of %d requests failed; first: %v", l.fail.Load(), l.fail.Load()+l.ok.Load(), l.first.Load())
	}
}

// wideSpacing is the close spacing of the tests that check overlaps on a
// strict server: wide against the 1ms the server counts, so that a server
// goroutine late to see a close on a loaded machine is not taken for an
// overlap.
const wideSpacing = 100 * time.Millisecond

// checkSafe fails unless the server saw nothing the real server does not
// survive.
func checkSafe(t *testing.T, srv *fleartest.Server) {
	t.Helper()
	if got := srv.Overlaps(); got != (fleartest.Overlaps{}) || srv.Stranded() != 0 || srv.Wedged() {
		t.Fatalf("overlaps %+v, stranded %d, wedged %v", got, srv.Stranded(), srv.Wedged())
	}
}

// Reconnect replaces every connection while 64 callers keep pinging,
// plain or pipelined (where the connections never go idle: those with
// requests in flight are retired, finish them, and close): none fails,
// Reconnect returns, the strict server never sees two dials or closes
// together, and it ends with exactly the pool's size of new connections,
// every old one closed.
func TestReconnectUnderLoad(t *testing.T) {
	for _, pipeline := range []int{1, 32} {
		t.Run(map[int]string{1: "plain", 32: "pipelined"}[pipeline], func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
			o := fastOptions(4)
			o.Pipeline = pipeline
			o.CloseSpacing = wideSpacing
			c := connect(t, srv, o)
			ctx := testCtx(t)
			accepted := srv.Accepted()
			l := startLoad(ctx, c, 64)
			waitStats(t, c, "progress", func(fleare.Stats) bool { return l.ok.Load() > 100 })
			for round := 1; round <= 2; round++ {
				if err := c.Reconnect(ctx); err != nil {
					t.Fatal(err)
				}
				before := l.ok.Load()
				waitStats(t, c, "progress after", func(fleare.Stats) bool { return l.ok.Load() > before+100 })
				if s := c.Stats(); s.ClosedReconnect != uint64(4*round) || s.Stale != 0 || s.Open != 4 {
					t.Fatalf("after Reconnect %d: %+v", round, s)
				}
			}
			l.finish(t)
			if err := srv.WaitConns(ctx, 4); err != nil {
				t.Fatal(err)
			}
			s := c.Stats()
			if s.ClosedReconnect != 8 || s.Stale != 0 || s.Open != 4 || s.Errors != 0 || s.ClosedBroken != 0 || s.ClosedTimeout != 0 {
				t.Fatalf("stats %+v", s)
			}
			if got := srv.Accepted() - accepted; got != 8 {
				t.Fatalf("server accepted %d new connections, want 8", got)
			}
			checkSafe(t, srv)
		})
	}
}

// Connections past MaxLifetime are replaced one at a time, with close
// reason lifetime, while callers see no error (pipelined, the connections
// replaced have requests in flight: they finish them, then close); setting
// it back to 0 stops the replacing.
func TestMaxLifetime(t *testing.T) {
	for _, pipeline := range []int{1, 32} {
		t.Run(map[int]string{1: "plain", 32: "pipelined"}[pipeline], func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
			o := fastOptions(3)
			o.Pipeline = pipeline
			o.CloseSpacing = wideSpacing
			c := connect(t, srv, o)
			ctx := testCtx(t)
			l := startLoad(ctx, c, 48)
			o.MaxLifetime = time.Millisecond
			o.LifetimeJitter = time.Millisecond
			if err := c.Update(o); err != nil {
				t.Fatal(err)
			}
			waitStats(t, c, "6 replaced", func(s fleare.Stats) bool { return s.ClosedLifetime >= 6 })
			o.MaxLifetime, o.LifetimeJitter = 0, 0
			if err := c.Update(o); err != nil {
				t.Fatal(err)
			}
			l.finish(t)
			if err := srv.WaitConns(ctx, 3); err != nil {
				t.Fatal(err)
			}
			s := c.Stats()
			if s.Errors != 0 || s.ClosedBroken != 0 || s.ClosedTimeout != 0 || s.ClosedReconnect != 0 || s.Open != 3 || s.Stale != 0 {
				t.Fatalf("stats %+v", s)
			}
			// One more when a replacement was being dialed as MaxLifetime went to
			// 0: it finds nothing left to replace and is closed unused.
			closed, accepted := s.ClosedLifetime, srv.Accepted()
			if accepted != 3+closed && accepted != 3+closed+1 {
				t.Fatalf("server accepted %d connections for %d closed by lifetime, want %d (or one more)", accepted, closed, 3+closed)
			}
			checkSafe(t, srv)
		})
	}
}

// AfterConnect runs once on every new connection before it serves; its
// error closes the connection and fails the dial.
func TestAfterConnect(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
	o := fastOptions(3)
	o.CloseSpacing = wideSpacing
	var ran atomic.Int64
	o.AfterConnect = func(ctx context.Context, conn *fleare.Conn) error {
		ran.Add(1)
		return conn.Ping(ctx)
	}
	c := connect(t, srv, o)
	if got := ran.Load(); got != 3 {
		t.Fatalf("AfterConnect ran %d times for 3 connections", got)
	}

	refused := errors.New("not this one")
	o.AfterConnect = func(context.Context, *fleare.Conn) error { return refused }
	o.MaxRetries = -1
	bad := newClient(t, srv, o)
	err := bad.Connect(testCtx(t))
	var ce *fleare.ConnError
	if !errors.Is(err, refused) || !errors.As(err, &ce) || ce.Op != "after connect" {
		t.Fatalf("Connect with a failing AfterConnect: %v", err)
	}
	if s := bad.Stats(); s.Open != 0 || s.DialFailures == 0 {
		t.Fatalf("stats %+v", s)
	}
	if err := bad.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitConns(testCtx(t), 3); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	checkSafe(t, srv)
}

// A connection Reconnect replaced while requests were on it stays open for
// them (Reconnect returns meanwhile), and Close whose context has ended
// closes it under them.
func TestCloseForcesReplacedBusyConnection(t *testing.T) {
	for _, pipeline := range []int{1, 32} {
		t.Run(map[int]string{1: "plain", 32: "pipelined"}[pipeline], func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
			o := fastOptions(1)
			o.Pipeline = pipeline
			c := connect(t, srv, o)
			ctx := testCtx(t)
			srv.SetLatency(time.Hour)
			n := 1
			if pipeline > 1 {
				n = 3
			}
			wait := pingAll(ctx, c, n)
			waitStats(t, c, "requests in flight", func(s fleare.Stats) bool { return s.InFlight == n })
			if err := c.Reconnect(ctx); err != nil {
				t.Fatal(err)
			}
			if s := c.Stats(); s.ClosedReconnect != 1 || s.Open != 1 || s.InFlight != 0 {
				t.Fatalf("after Reconnect: %+v", s)
			}
			if got := srv.Conns(); got != 2 {
				t.Fatalf("server has %d connections after Reconnect, want 2: the busy one stays for its requests", got)
			}
			ended, cancel := context.WithCancel(ctx)
			cancel()
			var ce *fleare.CloseError
			if err := c.Close(ended); !errors.As(err, &ce) || ce.Forced != 1 {
				t.Fatalf("Close = %v, want a *CloseError with 1 forced", err)
			}
			cut := 0
			for i, err := range wait() {
				var conn *fleare.ConnError
				switch {
				case errors.As(err, &conn):
					cut++ // sent, and cut off
				case !errors.Is(err, fleare.ErrClosed):
					// Requests queued behind a written one, unsent, are
					// moved to another connection, and find the client closed.
					t.Fatalf("request %d on the replaced connection: %v, want a *ConnError or ErrClosed", i, err)
				}
			}
			if cut == 0 {
				t.Fatal("no request was cut off: the first was written before Close")
			}
		})
	}
}

// A reconnect whose new connections cannot be opened keeps the old ones
// serving (make-before-break), retries with backoff, and completes once
// the server accepts again.
func TestReconnectWhileServerRefuses(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(2))
	ctx := testCtx(t)
	srv.RefuseNew(true)
	short, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Reconnect(short) }()
	waitStats(t, c, "failed dials", func(s fleare.Stats) bool { return s.DialFailures >= 2 })
	for range 20 {
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("ping on the old connections: %v", err)
		}
	}
	if s := c.Stats(); s.Open != 2 || s.Stale != 2 || s.ClosedReconnect != 0 {
		t.Fatalf("while refused: %+v", s)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Reconnect cut short: %v", err)
	}
	srv.RefuseNew(false)
	if err := c.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.ClosedReconnect != 2 || s.Stale != 0 || s.Open != 2 {
		t.Fatalf("after: %+v", s)
	}
}
