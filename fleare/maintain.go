package fleare

import (
	"context"
	"math/rand/v2"
	"time"
)

// maintain is the Client's one background goroutine, started by Connect and
// joined by Close. It dials while the pool is below its desired size, one
// connection at a time, backing off after failures, and checks every idle
// connection when one was found broken (the periodic checks of idle
// connections are the process-wide checker's: see health.go).
func (c *Client) maintain(ctx context.Context) {
	defer close(c.maintDone)
	for ctx.Err() == nil {
		if c.sweepWanted() {
			c.sweepIdle()
		}
		if c.startDial() {
			if delay := c.dialOnce(ctx); delay > 0 {
				c.pause(ctx, delay)
			}
			continue
		}
		if c.replaceStale(ctx) {
			continue
		}
		select {
		case <-ctx.Done():
		case <-c.wake:
		}
	}
}

func (c *Client) sweepWanted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sweep && !c.closing
}

// startDial reports whether a connection is missing, and if so books the
// dial.
func (c *Client) startDial() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.open+c.dialing >= c.desired {
		return false
	}
	c.dialing++
	return true
}

// dialOnce opens one connection and adds it to the pool. After a failure it
// returns how long to wait before the next attempt.
func (c *Client) dialOnce(ctx context.Context) (backoff time.Duration) {
	c.mu.Lock()
	o := c.opts
	c.counters.dialAttempts++
	c.mu.Unlock()

	conn, err := dial(ctx, c.host, c.port, &o)
	if err == nil {
		conn.onClosed = c.socketClosed // before anyone else can close it
	}

	c.mu.Lock()
	c.dialing--
	if err == nil {
		c.sockets++
	}
	var surplus *Conn
	switch {
	case err != nil && ctx.Err() != nil: // Close canceled the dial
	case err != nil:
		backoff = c.dialFailedLocked(err, &o)
	case c.closing || c.open >= c.desired:
		c.streak = 0
		surplus = conn
	default:
		c.streak = 0
		c.addLocked(conn)
	}
	c.unlock()
	if surplus != nil {
		surplus.kill()
	}
	return backoff
}

// dialFailedLocked records a failed dial, moves to state error when
// 1+MaxRetries dials in a row failed with no connection open, and returns
// the backoff before the next attempt.
func (c *Client) dialFailedLocked(err error, o *Options) time.Duration {
	c.counters.dialFailures++
	c.streak++
	c.setErrLocked(err)
	c.emitLocked(EventError, err)
	if c.open == 0 && c.state != StateError && c.streak >= 1+o.MaxRetries {
		c.transitionLocked(StateError)
		c.failWaitersLocked(c.unavailableLocked())
	}
	c.signalChangedLocked()
	return backoffDelay(c.streak, o.RetryInterval, rand.Float64())
}

// addLocked puts a new connection in the pool, handing it to the first
// waiter if there is one.
func (c *Client) addLocked(conn *Conn) {
	pc := &pconn{conn: conn, lastUsed: time.Now(), age: c.ageLocked()}
	c.all[pc] = struct{}{}
	c.open++
	if c.replacing > 0 {
		c.replacing--
		c.counters.replaced++
	}
	if c.open == 1 {
		c.transitionLocked(StateConnected, EventConnected)
	}
	if c.pipelined {
		c.addSharedLocked(pc)
	} else {
		c.returnHealthyLocked(pc) // cannot refuse: not closing, not above size
	}
	c.signalChangedLocked()
}

// backoffDelay is the wait after the n-th failure in a row: base * 2^(n-1),
// capped at max(base, MaxBackoff), times a jitter factor in [0.8, 1.2)
// taken from r in [0, 1).
func backoffDelay(n int, base time.Duration, r float64) time.Duration {
	limit := max(base, MaxBackoff)
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return time.Duration(float64(d) * (0.8 + 0.4*r))
}

// pause waits d, or until ctx ends, still checking every idle connection
// when one was found broken.
func (c *Client) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-c.wake:
			if c.sweepWanted() {
				c.sweepIdle()
			}
		}
	}
}
