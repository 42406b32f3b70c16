package fleare

import (
	"sync"
	"testing"
)

// BenchmarkAcquireReleaseBaseline gives BenchmarkAcquireRelease two
// baselines, run with it (-bench AcquireRelease): the floor of any pool
// guarded by a mutex (lock, pop a connection off a slice, unlock, and the
// same to push it back), and a pool built on a buffered channel, the usual
// hand-written alternative.
func BenchmarkAcquireReleaseBaseline(b *testing.B) {
	b.Run("mutex-slice", func(b *testing.B) {
		var mu sync.Mutex
		idle := make([]*pconn, 8)
		for i := range idle {
			idle[i] = &pconn{}
		}
		b.ReportAllocs()
		for b.Loop() {
			mu.Lock()
			pc := idle[len(idle)-1]
			idle = idle[:len(idle)-1]
			mu.Unlock()
			mu.Lock()
			idle = append(idle, pc)
			mu.Unlock()
		}
	})
	b.Run("chan", func(b *testing.B) {
		idle := make(chan *pconn, 8)
		for range 8 {
			idle <- &pconn{}
		}
		b.ReportAllocs()
		for b.Loop() {
			pc := <-idle
			idle <- pc
		}
	})
}
