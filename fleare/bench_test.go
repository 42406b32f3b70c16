package fleare_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// BenchmarkPing measures PING round trips against an in-process server:
// the baseline "raw" runs 8 dedicated Conns, one goroutine each, with no
// pool; "pool=N" runs N callers sharing a Client of 8 connections with the
// default options (pipelined, DefaultPipeline deep). Compare pings/s of
// pool=64 with raw (target: at least 0.9x).
func BenchmarkPing(b *testing.B) {
	srv := fleartest.NewServer(b, fleartest.Options{Users: testUsers})
	ctx := context.Background()
	const conns = 8

	b.Run("raw", func(b *testing.B) {
		cs := make([]*fleare.Conn, conns)
		for i := range cs {
			c, err := fleare.Dial(ctx, srv.Host(), srv.Port(), fastOptions(1))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			cs[i] = c
		}
		runSplit(b, conns, func(w int) error {
			_, err := cs[w].Do(ctx, "PING")
			return err
		})
	})
	for _, callers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("pool=%d", callers), func(b *testing.B) {
			c := fleare.NewClient(srv.Host(), srv.Port(), fastOptions(conns))
			defer c.Close(ctx)
			if err := c.Connect(ctx); err != nil {
				b.Fatal(err)
			}
			runSplit(b, callers, func(int) error { return c.Ping(ctx) })
		})
	}
}

// runSplit runs b.N calls of op spread over workers goroutines and reports
// the throughput.
func runSplit(b *testing.B, workers int, op func(worker int) error) {
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
