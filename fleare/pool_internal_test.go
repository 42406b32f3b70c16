package fleare

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// fakePool returns a connected Client holding n connections that have no
// socket behind them, for exercising the pool's bookkeeping alone.
func fakePool(tb testing.TB, n int) *Client {
	c := NewClient("fake", 1, Options{PoolSize: n, Pipeline: 1})
	c.started = true
	c.state = StateConnected
	now := time.Now()
	for range n {
		pc := &pconn{conn: newConn(nil, c.addr, &c.opts), lastUsed: now}
		c.all[pc] = struct{}{}
		c.open++
		c.idle = append(c.idle, pc)
	}
	tb.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestAcquireReleaseDoesNotAllocate(t *testing.T) {
	c := fakePool(t, 4)
	ctx := context.Background()
	now := time.Now()
	deadline := now.Add(time.Second)
	allocs := testing.AllocsPerRun(1000, func() {
		pc, err := c.acquire(ctx, deadline)
		if err != nil {
			t.Fatal(err)
		}
		c.release(pc, Reply{}, nil, now, deadline)
	})
	if allocs != 0 {
		t.Fatalf("acquire+release allocated %v times", allocs)
	}
}

// Waiters are served in the order they arrived.
func TestWaitersAreFIFO(t *testing.T) {
	c := fakePool(t, 1)
	ctx := context.Background()
	now := time.Now()
	held, err := c.acquire(ctx, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			pc, err := c.acquire(ctx, time.Now().Add(time.Minute))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			c.release(pc, Reply{}, nil, time.Now(), time.Now())
		})
		waitFor(t, func() bool { return c.Stats().Waiting == i+1 })
	}
	c.release(held, Reply{}, nil, now, now)
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("served in order %v", order)
		}
	}
}

// Waiters that give up at random moments, some just as a connection is
// handed to them, never lose a connection.
func TestWaiterGivingUpKeepsConnections(t *testing.T) {
	const conns = 3
	c := fakePool(t, conns)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 300 {
				now := time.Now()
				pc, err := c.acquire(ctx, now.Add(time.Duration(rand.IntN(30))*time.Microsecond))
				if err != nil {
					continue
				}
				c.release(pc, Reply{}, nil, now, now)
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.Open != conns || s.Idle != conns || s.Waiting != 0 || len(c.all) != conns {
		t.Fatalf("after the storm: %+v", s)
	}
}

func TestBackoffDelay(t *testing.T) {
	base := 10 * time.Millisecond
	tests := []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{1, 0.5, base},
		{2, 0.5, 2 * base},
		{4, 0.5, 8 * base},
		{1, 0, 8 * time.Millisecond},
		{1, 0.9999999, 12 * time.Millisecond},
		{30, 0.5, MaxBackoff},
		{1000, 0.5, MaxBackoff},
	}
	for _, tt := range tests {
		got := backoffDelay(tt.n, base, tt.r)
		if got < tt.want-time.Microsecond || got > tt.want+time.Microsecond {
			t.Errorf("backoffDelay(%d, %v, %v) = %v, want %v", tt.n, base, tt.r, got, tt.want)
		}
	}
	if got := backoffDelay(3, time.Minute, 0.5); got != time.Minute {
		t.Errorf("a base above MaxBackoff is not capped below itself: %v", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// BenchmarkAcquireRelease measures the pool's own cost per request: taking
// an idle connection and giving it back. Target: under 100 ns, 0 allocs.
func BenchmarkAcquireRelease(b *testing.B) {
	c := fakePool(b, 8)
	ctx := context.Background()
	now := time.Now()
	deadline := now.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		pc, err := c.acquire(ctx, deadline)
		if err != nil {
			b.Fatal(err)
		}
		c.release(pc, Reply{}, nil, now, deadline)
	}
}

// A waiter whose context ends just as a connection is handed to it gives
// the connection back.
func TestWaiterGivingUpDuringHandoff(t *testing.T) {
	c := fakePool(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gaveBack := 0
	for range 200 {
		pc, err := c.acquire(context.Background(), time.Now().Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ch := make(chan handoff, 1)
		ch <- handoff{pc: pc} // handed over, as release does, and out of the queue
		got, err := c.wait(ctx, ch, monoNow())
		if err != nil {
			gaveBack++
		} else {
			c.release(got, Reply{}, nil, time.Now(), time.Now())
		}
		if s := c.Stats(); s.Idle != 1 || s.Open != 1 {
			t.Fatalf("connection lost: %+v", s)
		}
	}
	if gaveBack == 0 {
		t.Fatal("the give-up path never ran")
	}
}

// Idle connections whose server went away are found before use, so no
// request fails on them, plain and pipelined; in pipelined mode a request
// queued while the health check holds a connection it finds gone is sent
// on another.
func TestStaleIdleConnectionsCheckedBeforeUse(t *testing.T) {
	for _, pipeline := range []int{1, 0} {
		t.Run(fmt.Sprintf("pipeline=%d", pipeline), func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{})
			c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 2, Pipeline: pipeline, HealthCheckInterval: time.Hour, RetryInterval: time.Millisecond})
			t.Cleanup(func() { _ = c.Close(context.Background()) })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			srv.CloseClientConnections()
			if err := srv.WaitConns(ctx, 0); err != nil {
				t.Fatal(err)
			}
			// The server has closed its ends; on a loaded machine the end of
			// stream can still be on its way to ours. A request sent before
			// it arrives fails, rightly: it was sent. Nothing uses the
			// connections meanwhile.
			waitFor(t, func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				for pc := range c.all {
					if pc.conn.idleErr() == nil {
						return false
					}
				}
				return true
			})
			for range 10 {
				if err := c.Ping(ctx); err != nil {
					t.Fatalf("request on a stale connection: %v", err)
				}
			}
			if s := c.Stats(); s.ClosedBroken != 2 || s.Errors != 0 {
				t.Fatalf("Stats = %+v", s)
			}
		})
	}
}

// One timer for the queue ends each wait at its own deadline, whatever the
// order the deadlines come in, and leaves the other waiters in order.
func TestQueueTimerEndsEachWaitAtItsDeadline(t *testing.T) {
	c := fakePool(t, 1)
	ctx := context.Background()
	held, err := c.acquire(ctx, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		name string
		err  error
	}
	results := make(chan result, 4)
	queue := func(name string, ctx context.Context, d time.Duration) {
		n := c.Stats().Waiting
		go func() {
			pc, err := c.acquire(ctx, time.Now().Add(d))
			if err == nil {
				c.release(pc, Reply{}, nil, time.Now(), time.Now())
			}
			results <- result{name, err}
		}()
		waitFor(t, func() bool { return c.Stats().Waiting == n+1 })
	}
	queue("first", ctx, time.Hour)           // arms the timer an hour away
	queue("short", ctx, 20*time.Millisecond) // arms it earlier
	ctxShort, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	queue("ctx", ctxShort, time.Hour) // its context ends it: no timer
	queue("last", ctx, time.Hour)
	for range 2 {
		r := <-results
		var te *TimeoutError
		if (r.name != "short" && r.name != "ctx") || !errors.As(r.err, &te) || te.Op != "acquire" {
			t.Fatalf("%s: %v", r.name, r.err)
		}
	}
	if s := c.Stats(); s.Waiting != 2 || s.Open != 1 {
		t.Fatalf("after two waits ended: %+v", s)
	}
	c.release(held, Reply{}, nil, time.Now(), time.Now())
	for _, want := range []string{"first", "last"} {
		if r := <-results; r.name != want || r.err != nil {
			t.Fatalf("got %s (%v), want %s served", r.name, r.err, want)
		}
	}
	if s := c.Stats(); s.Waiting != 0 || s.Idle != 1 {
		t.Fatalf("at the end: %+v", s)
	}
}

// A request queued on a pipelined connection while the health check holds
// it, unsent, goes to another connection when the check finds the first
// one gone; so do the requests of a batch.
func TestRequestQueuedDuringCheckMovesOn(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 2, HealthCheckInterval: time.Hour})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for round, batch := range []bool{false, true} {
		waitFor(t, func() bool { return c.Stats().Open == 2 })
		c.mu.Lock()
		pc := c.shared[0] // the connection requests go to first
		c.mu.Unlock()
		if !pc.pipe.hold() {
			t.Fatal("an idle connection could not be held")
		}
		want := 1
		done := make(chan error, 2)
		if batch {
			want = 2
			go func() {
				for _, o := range c.ExecBatch(ctx, []Request{{Command: "PING"}, {Command: "PING"}}) {
					done <- o.Err
				}
			}()
		} else {
			go func() { done <- c.Ping(ctx) }()
		}
		waitFor(t, func() bool {
			pc.pipe.mu.Lock()
			defer pc.pipe.mu.Unlock()
			return pc.pipe.queue.len() == want
		})
		pc.pipe.unhold(errPeerGone)
		for range want {
			if err := <-done; err != nil {
				t.Fatalf("batch=%v: request queued on the held connection: %v", batch, err)
			}
		}
		if s := c.Stats(); s.ClosedBroken != uint64(round+1) || s.Errors != 0 || s.Requests != uint64(round+want) {
			t.Fatalf("batch=%v: Stats = %+v", batch, s)
		}
	}
}
