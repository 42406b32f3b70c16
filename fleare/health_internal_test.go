package fleare

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// The health check looks only at connections idle for a whole interval,
// plain or pipelined: one used within the interval keeps the stray it
// holds until it has been idle long enough, then is closed like the other.
// The checks are driven by hand with a clock ahead of the real one (the
// checker's own interval is an hour).
func TestHealthCheckOnlyStaleConnections(t *testing.T) {
	for _, depth := range []int{1, DefaultPipeline} {
		t.Run(map[int]string{1: "plain", DefaultPipeline: "pipelined"}[depth], func(t *testing.T) {
			healthCheckOnlyStale(t, depth)
		})
	}
}

func healthCheckOnlyStale(t *testing.T, depth int) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 2, Pipeline: depth, HealthCheckInterval: time.Hour, RetryInterval: time.Millisecond})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(ctx, func() bool { return srv.Conns() == 2 }); err != nil {
		t.Fatal(err)
	}
	pcs := idleConns(c)
	if depth > 1 {
		c.mu.Lock()
		pcs = append([]*pconn(nil), c.shared...)
		c.mu.Unlock()
	}
	if len(pcs) != 2 {
		t.Fatalf("%d idle connections, want 2", len(pcs))
	}
	// A connection just dialed is idle for WriteStray once its server
	// goroutine waits for a request: write until both hold a stray.
	waitFor(t, func() bool {
		srv.WriteStray()
		return pcs[0].conn.idleErr() == errStray && pcs[1].conn.idleErr() == errStray
	})

	now := time.Now()
	c.checkIdle(now) // nothing idle for an hour yet
	if s := c.Stats(); s.ClosedStray != 0 || s.Open != 2 {
		t.Fatalf("a connection idle less than the interval was checked: %+v", s)
	}
	c.mu.Lock()
	pcs[0].lastUsed = now.Add(90 * time.Minute) // used since
	c.mu.Unlock()
	c.checkIdle(now.Add(2 * time.Hour))
	if s := c.Stats(); s.ClosedStray != 1 {
		t.Fatalf("after the check: %+v, want the stale connection closed", s)
	}
	if pcs[0].removed || pcs[0].conn.idleErr() != errStray {
		t.Fatal("the connection used within the interval was checked")
	}
	c.checkIdle(now.Add(3 * time.Hour))
	waitStatsInternal(t, c, func(s Stats) bool { return s.ClosedStray == 2 && s.Open == 2 })
}

// The checker goroutine runs while a Client is open and returns after the
// last one closes.
func TestHealthCheckerStopsWithLastClient(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var cs []*Client
	for range 2 {
		c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 1, HealthCheckInterval: time.Millisecond, CloseSpacing: -1})
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	running := func() bool {
		checker.mu.Lock()
		defer checker.mu.Unlock()
		return checker.running
	}
	if !running() {
		t.Fatal("no checker with two Clients open")
	}
	for _, c := range cs {
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return !running() })
}

// A request that comes while the health check holds an idle pipelined
// connection waits, unsent (a reply would look like a stray to the look),
// and goes out once the check hands the connection back.
func TestRequestDuringPipelinedHealthCheck(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 1, Pipeline: 4, HealthCheckInterval: time.Hour, CloseSpacing: -1})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	p := c.shared[0].pipe
	c.mu.Unlock()
	if !p.hold() {
		t.Fatal("an idle pipelined connection could not be held for a check")
	}
	before := srv.Requests()
	done := make(chan error, 1)
	go func() {
		res, err := c.Do(ctx, "PING", "held")
		if err == nil && string(res) != "PONG held" {
			err = fmt.Errorf("reply %q", res)
		}
		done <- err
	}()
	waitFor(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.queue.len() == 1
	})
	p.mu.Lock()
	unsent := p.unsent
	p.mu.Unlock()
	if n := srv.Requests() - before; n != 0 || unsent != 1 {
		t.Fatalf("while the connection was held: %d requests reached the server, %d unsent, want 0 and 1", n, unsent)
	}
	p.unhold(nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.ClosedStray != 0 || s.Open != 1 {
		t.Fatalf("stats after the check: %+v", s)
	}
}

// One round of the checker covers several Clients with shared buffers: a
// Client closing among them (it gives no connection) leaves the others'
// connections to their own Clients, each checked and given back or closed.
func TestCheckRoundWithClosingClient(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var cs []*Client
	connect := func() {
		c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 1, Pipeline: 1, HealthCheckInterval: time.Hour, CloseSpacing: -1, RetryInterval: time.Millisecond})
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		if err := srv.Wait(ctx, func() bool { return srv.Conns() == len(cs) }); err != nil {
			t.Fatal(err)
		}
	}
	connect()
	strayed := idleConns(cs[0])[0]
	waitFor(t, func() bool {
		srv.WriteStray()
		return strayed.conn.idleErr() == errStray
	})
	connect() // after the strays: the other two hold none
	connect()
	kept := idleConns(cs[2])[0]
	if err := cs[1].Close(ctx); err != nil {
		t.Fatal(err)
	}
	var r checkRound
	for range 2 { // the second round reuses the first one's buffers
		r.batch = append(r.batch, cs...)
		r.check(time.Now().Add(2 * time.Hour))
	}
	if s := cs[0].Stats(); s.ClosedStray != 1 {
		t.Fatalf("first Client: %+v, want its stray connection closed", s)
	}
	if s := cs[2].Stats(); s.Idle != 1 || s.Open != 1 || s.ClosedStray != 0 || kept.removed || idleConns(cs[2])[0] != kept {
		t.Fatalf("third Client: %+v, want its connection checked and back", s)
	}
	for _, c := range []*Client{cs[0], cs[2]} {
		c.mu.Lock()
		checking := c.checking
		c.mu.Unlock()
		if checking != 0 {
			t.Fatalf("%d connections still out for a check", checking)
		}
	}
}
