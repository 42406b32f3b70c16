package fleare

import (
	"testing"
	"time"
)

// A connection's lifetime is MaxLifetime plus its own share of
// LifetimeJitter, so connections opened together are replaced apart; the
// share is drawn in [0, 1).
func TestLifetimeJitter(t *testing.T) {
	c := &Client{}
	c.opts.MaxLifetime = 10 * time.Minute
	c.opts.LifetimeJitter = 4 * time.Minute
	born := time.Now()
	early := &pconn{age: connAge{born: born, jitter: 0}}
	late := &pconn{age: connAge{born: born, jitter: 0.5}}
	at := func(d time.Duration) time.Time { return born.Add(d) }
	for _, tc := range []struct {
		pc   *pconn
		now  time.Time
		want closeReason
	}{
		{early, at(10*time.Minute - time.Second), reasonNone},
		{early, at(10 * time.Minute), reasonLifetime},
		{late, at(10 * time.Minute), reasonNone}, // its 2m of jitter to go
		{late, at(12*time.Minute - time.Second), reasonNone},
		{late, at(12 * time.Minute), reasonLifetime},
	} {
		if got := c.staleReasonLocked(tc.pc, tc.now); got != tc.want {
			t.Errorf("jitter share %v at %v: reason %v, want %v", tc.pc.age.jitter, tc.now.Sub(born), got, tc.want)
		}
	}
	c.opts.MaxLifetime = 0 // off: jitter alone replaces nothing
	if got := c.staleReasonLocked(late, at(time.Hour)); got != reasonNone {
		t.Errorf("MaxLifetime 0: reason %v", got)
	}

	seen := map[bool]bool{}
	for range 1000 {
		j := c.ageLocked().jitter
		if j < 0 || j >= 1 {
			t.Fatalf("jitter share %v, want [0, 1)", j)
		}
		seen[j < 0.5] = true
	}
	if !seen[true] || !seen[false] {
		t.Fatal("1000 jitter shares all on one side of 0.5: not random")
	}
}
