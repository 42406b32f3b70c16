package fleare

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"
)

// Operator controls of a Client: Pause and Resume hold new requests while
// the server is restarted; Reconnect and Options.MaxLifetime replace
// connections one at a time, make-before-break; Options.AfterConnect
// prepares each new connection.
//
// The pool's own code calls in at a few places: Exec (holdIfPaused, before
// a connection is taken), the maintainer (replaceStale, when it has nothing
// to dial), addLocked (each new connection's age), beginCloseLocked
// (releaseHeldLocked), drain (the retired connections), Stats
// (controlStatsLocked) and dial (afterConnect).

// Events of the operator controls.
const (
	// EventPaused: Pause was called; new requests are held.
	EventPaused EventType = "paused"
	// EventResumed: Resume was called; held requests go on.
	EventResumed EventType = "resumed"
)

// control is the state of the operator controls. Everything but paused is
// guarded by Client.mu.
type control struct {
	paused atomic.Bool   // read by every request without the lock
	resume chan struct{} // closed by Resume or Close; held requests wait on it
	held   int           // requests waiting for Resume; 0 once it is called
	holds  uint64        // requests that were held, since NewClient
	holdNs int64         // their total wait
	gen    uint64        // bumped by Reconnect: older connections are stale
	// retryAt delays the next replacement after a failed dial, by the
	// same backoff as the pool's own dials.
	retryAt time.Time
	// retired are replaced connections that were busy: no longer the
	// pool's, each is closed by its request when given back, or by Close
	// when its context ends first.
	retired []*pconn
}

// connAge is what the pool knows of a connection's age.
type connAge struct {
	born   time.Time
	gen    uint64  // control.gen when it was added
	jitter float64 // in [0, 1): its share of LifetimeJitter
}

// ageLocked returns the age of a connection added now.
func (c *Client) ageLocked() connAge {
	return connAge{born: time.Now(), gen: c.ctl.gen, jitter: rand.Float64()}
}

// holdIfPaused makes a request wait while the Client is paused. It costs an
// atomic load when it is not.
func (c *Client) holdIfPaused(ctx context.Context, deadline time.Time) error {
	if !c.ctl.paused.Load() {
		return nil
	}
	return c.hold(ctx, deadline)
}

// hold waits for Resume (or Close), bounded by ctx and deadline. Held
// requests count against MaxQueue together with those waiting for a
// connection.
func (c *Client) hold(ctx context.Context, deadline time.Time) error {
	c.mu.Lock()
	if !c.ctl.paused.Load() || c.closing {
		c.mu.Unlock()
		return nil // Close: acquire says ErrClosed
	}
	if c.ctl.held+c.waiters.len() >= c.opts.MaxQueue {
		c.counters.queueFull++
		c.mu.Unlock()
		return ErrQueueFull
	}
	c.ctl.held++
	c.ctl.holds++
	resumed := c.ctl.resume
	c.mu.Unlock()

	start := time.Now()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	var err error
	select {
	case <-resumed:
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = context.DeadlineExceeded
	}
	c.mu.Lock()
	select {
	case <-resumed: // Resume or Close counted it out
	default:
		c.ctl.held--
	}
	c.ctl.holdNs += int64(time.Since(start))
	c.mu.Unlock()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return &TimeoutError{Op: "paused", Addr: c.addr}
	}
	return notSent{fmt.Errorf("fleare: %s: held by a pause: %w", c.addr, err)}
}

// Pause holds new requests until Resume: each waits, bounded by its own
// context and RequestTimeout, and counts against MaxQueue (beyond it a
// request fails at once with ErrQueueFull). Requests that already hold a
// connection, or wait for one, go on. Pause returns once none holds a
// connection, so that the server can be restarted; if ctx ends first, it
// returns ctx's error and the Client stays paused. Connections stay open;
// those the server drops while paused are replaced as usual. Pausing a
// paused Client only waits again. Close ends every hold: the held
// requests fail with ErrClosed.
func (c *Client) Pause(ctx context.Context) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	if !c.ctl.paused.Load() {
		c.ctl.resume = make(chan struct{})
		c.ctl.paused.Store(true)
		c.emitLocked(EventPaused, nil)
		c.signalChangedLocked()
	}
	c.unlock()
	return c.waitIdle(ctx)
}

// waitIdle waits until no request holds a connection. A connection given
// back healthy wakes nobody, so this also looks every few milliseconds.
func (c *Client) waitIdle(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		c.mu.Lock()
		n, ch := c.inFlightLocked(), c.changed
		c.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("fleare: pause %s: %d request(s) still in flight: %w", c.addr, n, ctx.Err())
		}
	}
}

// inFlightLocked counts the requests holding a connection.
func (c *Client) inFlightLocked() int {
	if c.pipelined {
		_, n := c.idleSharedLocked()
		c.retiredLocked() // prune
		for _, pc := range c.ctl.retired {
			n += pc.inflight
		}
		return n
	}
	return c.open - len(c.idle) - c.checking + c.retiredLocked()
}

// Resume ends a Pause: held requests go on, in no particular order, and new
// ones are no longer held. Resuming a Client that is not paused does
// nothing.
func (c *Client) Resume() {
	c.mu.Lock()
	if c.ctl.paused.Load() {
		c.releaseHeldLocked()
		c.emitLocked(EventResumed, nil)
		c.signalChangedLocked()
	}
	c.unlock()
}

// releaseHeldLocked lets the held requests go. They are no longer
// counted as held from now on.
func (c *Client) releaseHeldLocked() {
	if c.ctl.paused.Swap(false) {
		close(c.ctl.resume)
		c.ctl.held = 0
	}
}

// Paused reports whether the Client is paused.
func (c *Client) Paused() bool { return c.ctl.paused.Load() }

// Reconnect replaces every connection open now with a new one, one at a
// time and make-before-break: the new connection is dialed (through the
// server's gate, as every dial) while the old one still serves, then takes
// its place, and the old one is closed (through the gate) once no request
// uses it. No request fails because of it. It is what to do after the
// server's name was moved to another address: new connections resolve the
// name again. Reconnect returns once every old connection is gone, or when
// ctx ends (the replacement goes on in the background). A pipelined
// connection with requests in flight is replaced the same way: once its
// replacement is in, it takes no new request, and it is closed when the
// last request on it has its reply (or fails at its deadline), so that
// Reconnect finishes under any load.
func (c *Client) Reconnect(ctx context.Context) error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	c.ctl.gen++
	gen := c.ctl.gen
	c.wakeLocked()
	c.mu.Unlock()
	for {
		c.mu.Lock()
		left, closing, ch := c.olderLocked(gen), c.closing, c.changed
		c.mu.Unlock()
		switch {
		case closing:
			return ErrClosed
		case left == 0:
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fleare: reconnect %s: %d connection(s) left to replace: %w", c.addr, left, ctx.Err())
		}
	}
}

// olderLocked counts the pool's connections from before generation gen.
func (c *Client) olderLocked(gen uint64) int {
	n := 0
	for pc := range c.all {
		if pc.age.gen < gen {
			n++
		}
	}
	return n
}

// staleReasonLocked says why pc must be replaced, or reasonNone.
func (c *Client) staleReasonLocked(pc *pconn, now time.Time) closeReason {
	if pc.age.gen < c.ctl.gen {
		return reasonReconn
	}
	if o := &c.opts; o.MaxLifetime > 0 {
		life := o.MaxLifetime + time.Duration(pc.age.jitter*float64(o.LifetimeJitter))
		if now.Sub(pc.age.born) >= life {
			return reasonLifetime
		}
	}
	return reasonNone
}

// pickStaleLocked returns the oldest connection due for replacement, and
// why. With idleOnly, only one no request is using. A pipelined connection
// already retiring (a shrink) is never picked: it is leaving.
func (c *Client) pickStaleLocked(idleOnly bool) (*pconn, closeReason) {
	if c.ctl.gen == 0 && c.opts.MaxLifetime <= 0 {
		return nil, reasonNone
	}
	now := time.Now()
	var best *pconn
	var why closeReason
	for pc := range c.all {
		r := c.staleReasonLocked(pc, now)
		if r == reasonNone || pc.retiring || (idleOnly && !c.isIdleLocked(pc)) {
			continue
		}
		if best == nil || pc.age.born.Before(best.age.born) {
			best, why = pc, r
		}
	}
	return best, why
}

// isIdleLocked reports whether no request uses pc (a connection out of
// the idle stack for a health check counts as busy).
func (c *Client) isIdleLocked(pc *pconn) bool {
	if c.pipelined {
		return pc.inflight == 0 && !pc.retiring
	}
	for _, p := range c.idle {
		if p == pc {
			return true
		}
	}
	return false
}

// replaceStale replaces one connection that is past its lifetime or older
// than the last Reconnect, and reports whether it did. It runs on the
// maintainer goroutine, so its dial never overlaps the pool's others; the
// dial and then the close of the old connection each go through the
// server's gate. The new connection is made before the old one leaves.
func (c *Client) replaceStale(ctx context.Context) bool {
	c.mu.Lock()
	if c.closing || c.open != c.desired || time.Now().Before(c.ctl.retryAt) {
		c.mu.Unlock()
		return false
	}
	if pc, _ := c.pickStaleLocked(false); pc == nil {
		c.mu.Unlock()
		return false
	}
	c.dialing++
	c.counters.dialAttempts++
	o := c.opts
	c.mu.Unlock()

	conn, err := dial(ctx, c.host, c.port, &o)
	if err == nil {
		conn.onClosed = c.socketClosed
	}
	c.mu.Lock()
	c.dialing--
	switch {
	case err != nil && ctx.Err() != nil:
		c.mu.Unlock()
		return false
	case err != nil:
		c.ctl.retryAt = time.Now().Add(c.dialFailedLocked(err, &o))
		c.unlock()
		return false
	}
	c.sockets++
	c.streak = 0
	old, why := c.pickStaleLocked(false)
	if old == nil || c.closing {
		// The stale one went meanwhile: the new one fills its place if
		// the pool is short, else it is surplus.
		fill := !c.closing && c.open < c.desired
		if fill {
			c.addLocked(conn)
		}
		c.unlock()
		if !fill {
			conn.kill()
		}
		return fill
	}
	closeNow := c.swapLocked(old, why, conn)
	c.unlock()
	if closeNow {
		old.conn.kill()
	}
	return true
}

// swapLocked puts conn in old's place and reports whether the caller must
// close old now. A busy old connection is retired: it is no longer the
// pool's, so it takes no new request, and its last request closes it when
// done (release in plain mode; putSharedLocked for the last of the
// requests pipelined on it, or the pipe itself when a deadline passes
// with a reply missing).
func (c *Client) swapLocked(old *pconn, why closeReason, conn *Conn) (closeNow bool) {
	idle := c.isIdleLocked(old)
	if idle && !c.pipelined {
		for i, p := range c.idle {
			if p == old {
				c.idle = append(c.idle[:i], c.idle[i+1:]...)
				break
			}
		}
	}
	c.removeLocked(old, why, nil)
	c.addLocked(conn)
	if !idle {
		old.retired = true
		c.retiredLocked() // prune
		c.ctl.retired = append(c.ctl.retired, old)
	}
	return idle
}

// retiredLocked forgets the retired connections already closed, and counts
// the others.
func (c *Client) retiredLocked() int {
	c.ctl.retired = slices.DeleteFunc(c.ctl.retired, func(pc *pconn) bool { return pc.conn.closed.Load() })
	return len(c.ctl.retired)
}

// takeRetiredLocked hands the retired connections still open to Close,
// which closes them under their requests.
func (c *Client) takeRetiredLocked() []*pconn {
	c.retiredLocked()
	pcs := c.ctl.retired
	c.ctl.retired = nil
	return pcs
}

// afterConnect runs Options.AfterConnect on a new connection. An error
// closes the connection (through its server's gate) and fails the dial.
func afterConnect(ctx context.Context, conn *Conn, o *Options) error {
	if o.AfterConnect == nil {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if err := o.AfterConnect(actx, conn); err != nil {
		_ = conn.Close()
		return &ConnError{Op: "after connect", Addr: conn.addr, Err: err}
	}
	return nil
}

// controlStatsLocked fills in the operator controls' part of s.
func (c *Client) controlStatsLocked(s *Stats) {
	s.ClosedLifetime = c.counters.closed[reasonLifetime]
	s.ClosedReconnect = c.counters.closed[reasonReconn]
	s.Paused = c.ctl.paused.Load()
	s.Held = c.ctl.held
	s.Holds = c.ctl.holds
	s.HoldTime = time.Duration(c.ctl.holdNs)
	if c.ctl.gen > 0 || c.opts.MaxLifetime > 0 {
		now := time.Now()
		for pc := range c.all {
			if c.staleReasonLocked(pc, now) != reasonNone {
				s.Stale++
			}
		}
	}
}
