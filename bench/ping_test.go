package bench_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/bench/internal/childserver"
	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/internal/wire"
	"github.com/fleare-manager/fleare-manager/manager"
)

const (
	// poolConns is the number of connections every PING benchmark uses.
	poolConns = 8
	// batchDepth is how many requests the batched ceiling writes at once.
	batchDepth = 256
	// pipelineDepth is Options.Pipeline in the pipelined pool.
	pipelineDepth = 32
)

var callerCounts = []int{1, 16, 64, 256}

// startChild starts a server in a child process for one benchmark.
func startChild(b *testing.B) *childserver.Server {
	b.Helper()
	child, err := childserver.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := child.Close(); err != nil {
			b.Error(err)
		}
	})
	return child
}

// BenchmarkPing measures PING round trips against a server in a child
// process, with three baselines in the same run:
//
//   - baseline=raw-8conns: 8 dedicated fleare.Conns, one goroutine each,
//     no pool;
//   - baseline=batched-1conn: one connection written batchDepth frames at
//     a time in one write, then read batchDepth replies (buffered, each
//     decoded): the deepest pipelining one connection can do, the wire's
//     ceiling here;
//   - callers=N/pool=plain: the pool of 8 connections with pipelining off.
//
// and callers=N/pool=pipelined: the same pool with Options.Pipeline 32.
// Each reports ops/s, p50/p99 latency of one request (of one batch for the
// batched ceiling), the client's and the server's CPU time per request and
// the load average; see meter.
func BenchmarkPing(b *testing.B) {
	child := startChild(b)
	ctx := context.Background()
	b.Run("baseline=raw-8conns", func(b *testing.B) {
		conns := dialConns(b, child, poolConns)
		runOps(b, child, poolConns, func(w int) error {
			_, err := conns[w].Do(ctx, "PING")
			return err
		})
	})
	b.Run(fmt.Sprintf("baseline=batched-1conn-%d", batchDepth), func(b *testing.B) {
		batched(b, child, batchDepth)
	})
	for _, callers := range callerCounts {
		for _, mode := range []struct {
			name  string
			depth int
		}{{"plain", 1}, {"pipelined", pipelineDepth}} {
			b.Run(fmt.Sprintf("callers=%d/pool=%s", callers, mode.name), func(b *testing.B) {
				c := fleare.NewClient(child.Host, child.Port, fleare.Options{
					PoolSize: poolConns, Pipeline: mode.depth, CloseSpacing: -1,
				})
				defer c.Close(ctx)
				if err := c.Connect(ctx); err != nil {
					b.Fatal(err)
				}
				runOps(b, child, callers, func(int) error {
					_, err := c.Do(ctx, "PING")
					return err
				})
			})
		}
	}
}

// BenchmarkManagedPing measures PING round trips through a manager Client
// whose target has a pool of 8 connections (the YAML defaults otherwise),
// at 1, 16, 64 and 256 callers, against 8 dedicated fleare.Conns driven by
// one goroutine each. The server runs in a child process.
func BenchmarkManagedPing(b *testing.B) {
	child := startChild(b)
	ctx := context.Background()
	b.Run("baseline=raw-8conns", func(b *testing.B) {
		conns := dialConns(b, child, poolConns)
		runOps(b, child, poolConns, func(w int) error {
			_, err := conns[w].Do(ctx, "PING")
			return err
		})
	})
	for _, callers := range callerCounts {
		b.Run(fmt.Sprintf("manager/callers=%d", callers), func(b *testing.B) {
			m := newManager(b, manager.Options{})
			apply(b, m, targets(b, child.Host, child.Port, 1, poolConns, false))
			c := m.Client("t00000")
			runOps(b, child, callers, func(int) error { return c.Ping(ctx) })
		})
	}
}

// dialConns opens n connections, closed when the benchmark ends.
func dialConns(b *testing.B, child *childserver.Server, n int) []*fleare.Conn {
	conns := make([]*fleare.Conn, n)
	for i := range conns {
		c, err := fleare.Dial(context.Background(), child.Host, child.Port, fleare.Options{CloseSpacing: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns
}

// runOps runs b.N calls of op spread over workers goroutines, timing each,
// and reports the meter's figures.
func runOps(b *testing.B, child *childserver.Server, workers int, op func(worker int) error) {
	b.ReportAllocs()
	hists := make([]latencies, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	m := startMeter(child.Pid())
	b.ResetTimer()
	for w := range workers {
		wg.Go(func() {
			h := &hists[w]
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := op(w); err != nil {
					b.Error(err)
					return
				}
				h.record(time.Since(t0))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	for i := 1; i < workers; i++ {
		hists[0].merge(&hists[i])
	}
	m.report(b, b.N, b.Elapsed(), &hists[0])
}

// batched runs the batched ceiling: b.N PINGs on one raw connection,
// depth at a time.
func batched(b *testing.B, child *childserver.Server, depth int) {
	nc, err := net.Dial("tcp", net.JoinHostPort(child.Host, strconv.Itoa(child.Port)))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	var (
		buf  []byte
		resp wire.Response
	)
	roundTrip := func(frames []byte, n int) {
		if _, err := nc.Write(frames); err != nil {
			b.Fatal(err)
		}
		for range n {
			body, err := wire.ReadFrame(br, buf)
			if err != nil {
				b.Fatal(err)
			}
			buf = body[:0]
			if err := wire.DecodeResponse(body, &resp); err != nil || resp.Status != "Ok" {
				b.Fatalf("reply %v (%v)", &resp, err)
			}
		}
	}
	roundTrip(mustFrames(b, "auth", 1), 1)
	frames := mustFrames(b, "PING", depth)
	frameLen := len(frames) / depth
	var h latencies
	b.ReportAllocs()
	m := startMeter(child.Pid())
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(depth, b.N-done)
		t0 := time.Now()
		roundTrip(frames[:n*frameLen], n)
		d := time.Since(t0)
		for range n {
			h.record(d)
		}
		done += n
	}
	b.StopTimer()
	m.report(b, b.N, b.Elapsed(), &h)
}

// mustFrames returns n framed commands, back to back.
func mustFrames(b *testing.B, command string, n int) []byte {
	var out []byte
	for range n {
		var err error
		if out, err = wire.AppendFrame(out, &wire.Command{Command: command}); err != nil {
			b.Fatal(err)
		}
	}
	return out
}
