package fleare

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// waitStatsInternal polls c's stats until cond holds, with a generous
// deadline, and says what they were if it never does.
func waitStatsInternal(t *testing.T, c *Client, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond(c.Stats()) {
		if time.Now().After(deadline) {
			gates.mu.Lock()
			n := len(gates.m)
			gates.mu.Unlock()
			t.Fatalf("condition not reached; stats %+v; %d gates", c.Stats(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// idleConns returns the pool's idle connections.
func idleConns(c *Client) []*pconn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*pconn(nil), c.idle...)
}

// A stray frame that arrives on its own on an idle connection of the plain
// pool is found when the connection is next lent, before a request goes
// out on it: under 32 callers doing Set+Get between injections, no Get
// returns a wrong value, and the server reads no request on a connection
// after its stray. The health check is off, so only the check at acquire
// can find the strays.
func TestStrayOnIdleConnectionFoundAtAcquire(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 4, Pipeline: 1, HealthCheckInterval: time.Hour, RetryInterval: time.Millisecond})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	var wrong, failed atomic.Int64
	injected := 0
	for round := range 4 {
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Go(func() {
				for i := range 20 {
					k := fmt.Sprintf("k-%d-%d-%d", round, g, i)
					if err := c.Set(ctx, k, "v-"+k); err != nil {
						failed.Add(1)
						continue
					}
					if v, err := c.Get(ctx, k); err != nil {
						failed.Add(1)
					} else if v != "v-"+k {
						wrong.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if round == 3 {
			break // the last round found the strays of the one before
		}
		waitStatsInternal(t, c, func(s Stats) bool { return s.Open == 4 && s.Idle == 4 })
		if err := srv.Wait(ctx, func() bool { return srv.Conns() == 4 }); err != nil {
			t.Fatal(err)
		}
		n := srv.WriteStray() // on the connections the server is not serving
		injected += n
		// Wait until the strays are in the client's sockets (looking is
		// harmless: it consumes nothing); the next round's acquires must
		// find them.
		waitFor(t, func() bool {
			seen := 0
			for _, pc := range idleConns(c) {
				if pc.conn.idleErr() == errStray {
					seen++
				}
			}
			return seen == n
		})
	}
	// 32 callers over 4 connections lend every connection each round, so
	// every stray was found by the round after it.
	if s := c.Stats(); s.ClosedStray != uint64(injected) {
		t.Fatalf("%d strays injected, %d found; stats %+v", injected, s.ClosedStray, s)
	}
	if wrong.Load() != 0 || failed.Load() != 0 || injected < 3 || srv.RequestsAfterStray() != 0 {
		t.Fatalf("%d wrong, %d failed, %d strays, %d requests read after a stray", wrong.Load(), failed.Load(), injected, srv.RequestsAfterStray())
	}
}

// socketPool returns a connected Client holding n connections to a
// listener that accepts and says nothing: real sockets, no traffic.
func socketPool(b *testing.B, n int) *Client {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, nc)
			mu.Unlock()
		}
	}()
	c := NewClient("127.0.0.1", 1, Options{PoolSize: n, Pipeline: 1, CloseSpacing: -1})
	c.started = true
	c.state = StateConnected
	for range n {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		pc := &pconn{conn: newConn(nc, c.addr, &c.opts), lastUsed: time.Now()}
		c.all[pc] = struct{}{}
		c.open++
		c.idle = append(c.idle, pc)
	}
	b.Cleanup(func() {
		_ = c.Close(context.Background())
		_ = ln.Close()
		<-done
		mu.Lock()
		for _, nc := range held {
			_ = nc.Close()
		}
		mu.Unlock()
	})
	return c
}

// BenchmarkAcquireReleaseStrayCheck measures what the stray-frame check
// adds to lending a connection, on real sockets with nothing to read:
// "check" is acquire (take + look at the socket) + release; the baseline
// "take-only" is the same without the look.
func BenchmarkAcquireReleaseStrayCheck(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	deadline := now.Add(time.Hour)
	b.Run("take-only", func(b *testing.B) {
		c := socketPool(b, 8)
		b.ReportAllocs()
		for b.Loop() {
			pc, err := c.take(ctx, deadline)
			if err != nil {
				b.Fatal(err)
			}
			c.release(pc, Reply{}, nil, now, deadline)
		}
	})
	b.Run("check", func(b *testing.B) {
		c := socketPool(b, 8)
		b.ReportAllocs()
		for b.Loop() {
			pc, err := c.acquire(ctx, deadline)
			if err != nil {
				b.Fatal(err)
			}
			c.release(pc, Reply{}, nil, now, deadline)
		}
	})
}
