package bench_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
)

// poolConns is the number of connections every PING benchmark uses.
const poolConns = 8

// BenchmarkManagedPing measures PING round trips through a manager Client
// whose target has a pool of 8 connections, at 1, 16, 64 and 256 callers,
// against the baseline of 8 dedicated fleare.Conns driven by one goroutine
// each (no pool, no manager). The server runs in process. Target: at 64
// callers, at least 0.9 times the baseline's pings/s.
func BenchmarkManagedPing(b *testing.B) {
	srv := fleartest.NewServer(b, fleartest.Options{Users: benchUsers})
	ctx := context.Background()
	b.Run("baseline=raw-8conns", func(b *testing.B) {
		conns := make([]*fleare.Conn, poolConns)
		for i := range conns {
			c, err := fleare.Dial(ctx, srv.Host(), srv.Port(), fleare.Options{Username: benchUser, Password: benchPass})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			conns[i] = c
		}
		pings(b, poolConns, func(w int) error {
			_, err := conns[w].Do(ctx, "PING")
			return err
		})
	})
	for _, callers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("manager/callers=%d", callers), func(b *testing.B) {
			m := newManager(b, manager.Options{})
			apply(b, m, targets(b, srv.Host(), srv.Port(), 1, poolConns, true))
			c := m.Client("t00000")
			pings(b, callers, func(int) error { return c.Ping(ctx) })
		})
	}
}

// BenchmarkPipelining compares the fleare pool of 8 connections with and
// without Options.Pipeline (32 requests per connection), at the same
// callers, against the in-process server.
func BenchmarkPipelining(b *testing.B) {
	srv := fleartest.NewServer(b, fleartest.Options{Users: benchUsers})
	ctx := context.Background()
	for _, callers := range []int{1, 16, 64, 256} {
		for _, mode := range []struct {
			name  string
			depth int
		}{{"plain", 0}, {"pipeline=32", 32}} {
			b.Run(fmt.Sprintf("callers=%d/%s", callers, mode.name), func(b *testing.B) {
				c := fleare.NewClient(srv.Host(), srv.Port(), fleare.Options{
					PoolSize: poolConns, Pipeline: mode.depth, Username: benchUser, Password: benchPass,
				})
				defer c.Close(ctx)
				if err := c.Connect(ctx); err != nil {
					b.Fatal(err)
				}
				pings(b, callers, func(int) error { return c.Ping(ctx) })
			})
		}
	}
}

// pings runs b.N calls of op spread over workers goroutines, and reports
// the throughput in pings/s.
func pings(b *testing.B, workers int, op func(worker int) error) {
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := op(w); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pings/s")
}
