package testkit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Load runs callers that call a function in a loop, each call bounded by a
// deadline, and counts what happens.
type Load struct {
	stop context.CancelFunc
	wg   sync.WaitGroup
	ok   atomic.Int64

	mu sync.Mutex
	// Guarded by mu.
	failed  int64
	first   error         // the first failure since the last Reset
	slowest time.Duration // the longest a call took, since the last Reset
	errs    []error       // every failure since the last Reset, up to 1000
}

// LoadStats is a snapshot of a Load since its last Reset.
type LoadStats struct {
	OK, Failed int64
	First      error
	Slowest    time.Duration
	Errors     []error
}

// StartLoad starts callers goroutines calling call, each call with a
// context that ends after perCall. Stop them with Stop.
func StartLoad(ctx context.Context, callers int, perCall time.Duration, call func(context.Context) error) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{stop: cancel}
	for range callers {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				cctx, cancel := context.WithTimeout(ctx, perCall)
				start := time.Now()
				err := call(cctx)
				took := time.Since(start)
				cancel()
				if ctx.Err() != nil {
					return // stopping: the call may have been cut short
				}
				l.count(err, took)
			}
		})
	}
	return l
}

func (l *Load) count(err error, took time.Duration) {
	if err == nil {
		l.ok.Add(1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slowest = max(l.slowest, took)
	if err == nil {
		return
	}
	l.failed++
	if l.first == nil {
		l.first = err
	}
	if len(l.errs) < 1000 {
		l.errs = append(l.errs, err)
	}
}

// Stats returns what happened since the last Reset.
func (l *Load) Stats() LoadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LoadStats{OK: l.ok.Load(), Failed: l.failed, First: l.first, Slowest: l.slowest, Errors: l.errs}
}

// Reset zeroes the counts.
func (l *Load) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ok.Store(0)
	l.failed, l.first, l.slowest, l.errs = 0, nil, 0, nil
}

// Stop stops the callers, waits for them, and returns the final stats.
func (l *Load) Stop() LoadStats {
	l.stop()
	l.wg.Wait()
	return l.Stats()
}

// WaitOK waits until the load makes n successful calls in a row with no
// failure among them, which shows that whatever went wrong has healed.
func (l *Load) WaitOK(t testing.TB, n int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		l.Reset()
		for {
			s := l.Stats()
			if s.Failed > 0 {
				break
			}
			if s.OK >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("load did not recover: %d ok, %d failed in the last window", s.OK, s.Failed)
			}
			time.Sleep(2 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("load did not recover: still failing: %v", l.Stats().First)
		}
	}
}
