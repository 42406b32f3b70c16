package fleare

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkHandoff measures the plain pool's hand-off under contention,
// without I/O: 64 goroutines (32 per P on 2 cores) share 8 connections
// that have no socket, each taking one, yielding once as a request would
// while it waits for its reply, and giving it back. Baseline, in the same
// run: the same with a buffered channel of 8 connections, the floor of a
// FIFO-less hand-off between goroutines. The ratio is the pool's own cost
// per request when callers outnumber connections.
func BenchmarkHandoff(b *testing.B) {
	const conns, perP = 8, 32
	b.Run("baseline=chan", func(b *testing.B) {
		idle := make(chan *pconn, conns)
		for range conns {
			idle <- &pconn{}
		}
		b.ReportAllocs()
		b.SetParallelism(perP)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				pc := <-idle
				holdForRequest()
				idle <- pc
			}
		})
	})
	b.Run("pool", func(b *testing.B) {
		c := fakePool(b, conns)
		ctx := context.Background()
		now := time.Now()
		deadline := now.Add(time.Hour)
		b.ReportAllocs()
		b.SetParallelism(perP)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				pc, err := c.acquire(ctx, deadline)
				if err != nil {
					b.Error(err)
					return
				}
				holdForRequest()
				c.release(pc, Reply{}, nil, now, deadline)
			}
		})
	})
}

// holdForRequest stands for the time a request holds its connection: the
// goroutine yields once, as it does when it waits for the reply.
func holdForRequest() { runtime.Gosched() }
