// Package poll lets tests wait for a condition that no event announces, by
// polling it until a deadline generous enough for a loaded machine: a
// condition that holds ends the wait at once, so the deadline only bounds
// a failure.
//
//	poll.Until(t, "the pool to fill", func() bool { return c.Stats().Open == 4 })
//
// It imports nothing of the project's, so that every package's tests, the
// connection pool's own included, can use it.
package poll

import (
	"testing"
	"time"
)

// Timeout is how long Until waits before it fails the test.
const Timeout = 15 * time.Second

// maxPause bounds the pause between two polls; the first pauses are
// shorter, so that a condition about to hold is seen quickly.
const maxPause = 20 * time.Millisecond

// For polls cond until it holds, and reports whether it did within
// timeout.
func For(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := 100 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPause)
	}
	return true
}

// Until polls cond until it holds, and fails t, saying what it waited for,
// when it does not within Timeout.
func Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !For(Timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", Timeout, what)
	}
}
