package fleare_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// Resizing up and down while 32 callers keep pinging: no request fails, and
// after each resize the server sees exactly the new number of connections.
func TestResizeUnderLoad(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(4))
	ctx := testCtx(t)

	loadCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	for range 32 {
		wg.Go(func() {
			for loadCtx.Err() == nil {
				if err := c.Ping(ctx); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	for _, n := range []int{12, 2, 16, 1, 6, 3} {
		if err := c.Resize(n); err != nil {
			t.Fatal(err)
		}
		if err := srv.WaitConns(ctx, n); err != nil {
			t.Fatalf("resize to %d: %v", n, err)
		}
		waitStats(t, c, fmt.Sprintf("%d open", n), func(s fleare.Stats) bool { return s.Open == n && s.Desired == n })
		before := ok.Load()
		waitStats(t, c, "progress", func(fleare.Stats) bool { return ok.Load() >= before+300 })
	}
	stop()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	s := c.Stats()
	if s.Errors != 0 || s.ClosedResize == 0 || s.ClosedBroken != 0 || srv.Conns() != 3 {
		t.Fatalf("Stats = %+v, server conns %d", s, srv.Conns())
	}
	t.Logf("%d pings during 6 resizes; %d connections closed by shrinking", ok.Load(), s.ClosedResize)
}

// Shrinking an idle pool closes the surplus at once; growing dials back.
func TestResizeIdle(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(6))
	ctx := testCtx(t)
	if err := c.Resize(2); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Open != 2 || s.Idle != 2 || s.ClosedResize != 4 {
		t.Fatalf("right after Resize(2): %+v", s)
	}
	if err := srv.WaitConns(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.Resize(5); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitConns(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil { // already full: returns at once
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Resize(3); !errors.Is(err, fleare.ErrClosed) {
		t.Fatalf("Resize after Close: %v", err)
	}
	if err := c.Connect(ctx); !errors.Is(err, fleare.ErrClosed) {
		t.Fatalf("Connect after Close: %v", err)
	}
}
