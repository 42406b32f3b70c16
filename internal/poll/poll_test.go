package poll

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	var n atomic.Int32
	if !For(Timeout, func() bool { return n.Add(1) == 5 }) || n.Load() != 5 {
		t.Fatalf("For returned before the condition held, or polled on: %d polls", n.Load())
	}
	if For(10*time.Millisecond, func() bool { return false }) {
		t.Fatal("For reported a condition that never held")
	}
}

// fakeT records a Fatalf instead of ending the test.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = format
}

func TestUntilHolds(t *testing.T) {
	f := &fakeT{TB: t}
	Until(f, "true", func() bool { return true })
	if f.failed != "" {
		t.Fatalf("Until failed a condition that held: %s", f.failed)
	}
}
