package fleare

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// pconn is a pooled connection.
type pconn struct {
	conn *Conn
	pipe *pipe // set in pipelined mode
	// Guarded by Client.mu.
	lastUsed time.Time
	checked  time.Time // last health check
	removed  bool      // no longer counted in the pool
	inflight int       // pipelined: requests lent this connection
	retiring bool      // pipelined: takes no new request; closed by its last one
	retired  bool      // removed with requests in flight; closed by its last one

	age connAge // for MaxLifetime and Reconnect (control.go)
}

// handoff is what a waiter receives: a connection, or the error that ends
// its wait.
type handoff struct {
	pc  *pconn
	err error
}

// acquire returns a connection for one request: an idle one at once, or
// after waiting in FIFO order until deadline. Before lending it, it checks
// that the connection holds nothing no request asked for (a stray reply)
// and that its server is still there; one that fails is closed and
// another taken. It allocates nothing: a waiter's channel comes from a
// pool, and the wait queue has one timer for all its waiters.
func (c *Client) acquire(ctx context.Context, deadline time.Time) (*pconn, error) {
	if c.pipelined {
		return c.acquireShared(ctx, deadline)
	}
	for {
		pc, err := c.take(ctx, deadline)
		if err != nil {
			return nil, err
		}
		why := pc.conn.idleErr()
		if why == nil {
			return pc, nil
		}
		c.discard(pc, why)
	}
}

// take pops the most recently used idle connection, or waits for one.
func (c *Client) take(ctx context.Context, deadline time.Time) (*pconn, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		pc := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return pc, nil
	}
	return c.queueLocked(ctx, deadline)
}

// queueLocked puts the caller in the FIFO of waiters, unless it may not
// wait, and waits for a connection. c.mu is held on entry and released.
func (c *Client) queueLocked(ctx context.Context, deadline time.Time) (*pconn, error) {
	if err := c.cannotWaitLocked(); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	ch := waitChans.Get().(chan handoff)
	start := monoNow()
	c.waiters.push(c, ch, ctx, deadline, start)
	c.counters.waits++
	c.mu.Unlock()
	return c.wait(ctx, ch, start)
}

// cannotWaitLocked says why a caller may not queue for a connection.
func (c *Client) cannotWaitLocked() error {
	switch {
	case c.closing:
		return ErrClosed
	case !c.started:
		return ErrNotConnected
	case c.state == StateError:
		return c.unavailableLocked()
	case c.waiters.len() >= c.opts.MaxQueue:
		c.counters.queueFull++
		return ErrQueueFull
	}
	return nil
}

func (c *Client) unavailableLocked() error {
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, c.addr, c.lastErr)
}

// waitChans recycles waiters' channels. A channel is put back only once it
// is out of the queue and empty: it has received its one handoff, or was
// removed before anything was sent on it.
var waitChans = sync.Pool{New: func() any { return make(chan handoff, 1) }}

// errWaitExpired is what the queue's timer hands a waiter whose deadline
// passed, and what a waiter that gave up gets: wait turns it into the
// error its context or deadline calls for.
var errWaitExpired = errors.New("fleare: deadline passed while waiting for a connection")

// monoBase is the origin of monoNow.
var monoBase = time.Now()

// monoNow reads the monotonic clock alone, in ns since monoBase: half the
// cost of time.Now, which reads the wall clock too.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// monoOf returns t on monoNow's scale.
func monoOf(t time.Time) int64 { return int64(t.Sub(monoBase)) }

// waiter is one caller in the queue for a connection.
type waiter struct {
	ch chan handoff
	// deadline (on monoNow's scale) is when the queue's timer ends the
	// wait; 0 when the caller's context ends by then on its own.
	deadline int64
}

// waitQueue is the FIFO of callers waiting for a connection. One timer per
// queue, not one per wait, ends the waits whose deadline passes: it is set
// for the earliest deadline in the queue when it is armed, and a waiter
// served before its deadline leaves it as it is; when it fires, it ends
// the waits that are due and is set for the next. Waits bounded by their
// context's deadline (it comes first) do not need it. Guarded by
// Client.mu.
type waitQueue struct {
	q       fifo[waiter]
	timer   *time.Timer
	timerAt int64 // when timer fires, on monoNow's scale; 0: not armed
}

func (w *waitQueue) len() int { return w.q.len() }

// push queues ch. A wait that its context does not end by deadline gets
// the queue's timer, armed earlier if it must be.
func (w *waitQueue) push(c *Client, ch chan handoff, ctx context.Context, deadline time.Time, now int64) {
	wt := waiter{ch: ch}
	if cd, ok := ctx.Deadline(); !ok || deadline.Before(cd) {
		wt.deadline = max(monoOf(deadline), 1)
		w.armFor(c, wt.deadline, now)
	}
	w.q.push(wt)
}

// armFor makes sure the timer fires by at.
func (w *waitQueue) armFor(c *Client, at, now int64) {
	if w.timerAt != 0 && w.timerAt <= at {
		return
	}
	w.timerAt = at
	d := time.Duration(at - now)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, c.expireWaiters)
		return
	}
	w.timer.Reset(d)
}

// pop takes the oldest waiter's channel.
func (w *waitQueue) pop() (chan handoff, bool) {
	wt, ok := w.q.pop()
	return wt.ch, ok
}

// remove takes ch out of the queue, reporting whether it was there.
func (w *waitQueue) remove(ch chan handoff) bool {
	for i := range w.q.len() {
		if wt := w.q.at(i); wt.ch == ch {
			return w.q.remove(wt)
		}
	}
	return false
}

// stop disarms the timer, for a queue that no longer takes waiters.
func (w *waitQueue) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timerAt = 0
}

// expireWaiters runs when the queue's timer fires: it ends the waits whose
// deadline has passed, keeping the others in order, and sets the timer for
// the earliest deadline left.
func (c *Client) expireWaiters() {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &c.waiters
	now := monoNow()
	w.timerAt = 0
	var next int64
	n := w.q.len()
	for range n {
		wt, _ := w.q.pop()
		switch {
		case wt.deadline == 0:
		case wt.deadline <= now:
			wt.ch <- handoff{err: errWaitExpired}
			continue
		case next == 0 || wt.deadline < next:
			next = wt.deadline
		}
		w.q.push(wt)
	}
	if next != 0 {
		w.armFor(c, next, now)
	}
}

// wait blocks until a connection is handed over on ch, or until the
// queue's timer or ctx ends the wait. A waiter that gives up just as a
// connection is handed to it puts the connection back. It reads the
// monotonic clock once, for Stats.WaitTime (start is when it queued).
func (c *Client) wait(ctx context.Context, ch chan handoff, start int64) (*pconn, error) {
	return c.waited(ctx, ch, start, c.receive(ctx, ch, false))
}

// receive returns the handoff sent on ch, or, when ctx ends first, what
// giving up leaves (giveUp, or giveUpSlots for a batch's wait).
func (c *Client) receive(ctx context.Context, ch chan handoff, batch bool) handoff {
	done := ctx.Done()
	if done == nil {
		return <-ch
	}
	select {
	case h := <-ch:
		return h
	case <-done:
		if batch {
			return c.giveUpSlots(ch)
		}
		return c.giveUp(ch)
	}
}

// waited ends a wait on ch, started at start, whose handoff was h: ch goes
// back to its pool, the wait counts in Stats.WaitTime, and h becomes the
// connection or the error.
func (c *Client) waited(ctx context.Context, ch chan handoff, start int64, h handoff) (*pconn, error) {
	waitChans.Put(ch) // out of the queue, and its one handoff received
	c.waitNanos.Add(monoNow() - start)
	switch {
	case h.pc != nil:
		return h.pc, nil
	case h.err != nil && h.err != errWaitExpired:
		return nil, h.err
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, notSent{fmt.Errorf("fleare: waiting for a connection to %s: %w", c.addr, err)}
	}
	return nil, &TimeoutError{Op: "acquire", Addr: c.addr}
}

// giveUp takes a waiter whose context ended out of the queue. A handoff
// sent meanwhile (under c.mu, so already in ch) is taken, and a connection
// in it goes back to the pool: the context's end decides the error.
func (c *Client) giveUp(ch chan handoff) handoff {
	c.mu.Lock()
	if c.waiters.remove(ch) {
		c.mu.Unlock()
		return handoff{err: errWaitExpired}
	}
	if h := <-ch; h.pc != nil && c.returnHealthyLocked(h.pc) {
		defer h.pc.conn.kill()
	}
	c.unlock()
	return handoff{err: errWaitExpired}
}

// failWaitersLocked ends every wait with err.
func (c *Client) failWaitersLocked(err error) {
	c.waiters.stop()
	for {
		ch, ok := c.waiters.pop()
		if !ok {
			return
		}
		ch <- handoff{err: err}
	}
}

// closeReason classifies why a connection left the pool.
type closeReason int

const (
	reasonNone     closeReason = iota // healthy: reuse
	reasonBroken                      // I/O or protocol error, or a dead peer
	reasonTimeout                     // deadline passed mid-request
	reasonCanceled                    // caller canceled mid-write, cutting a frame
	reasonResize                      // pool above its desired size
	reasonShutdown                    // Close
	reasonForced                      // Close's context ended with a request in flight
	reasonStray                       // data no request asked for
	reasonLifetime                    // older than MaxLifetime (control.go)
	reasonReconn                      // replaced by Reconnect (control.go)
	numReasons
)

// reasonFor classifies the error that broke a connection.
func reasonFor(err error) closeReason {
	var te *TimeoutError
	switch {
	case errors.As(err, &te):
		return reasonTimeout
	case errors.Is(err, errStray):
		return reasonStray
	case errors.Is(err, context.Canceled):
		return reasonCanceled
	}
	return reasonBroken
}

// release returns a connection after a request, closing it if the request
// left it broken. A connection whose request was canceled after it was sent
// owes a reply: it stays out of use until a goroutine has read and
// discarded that reply, by the request's deadline.
func (c *Client) release(pc *pconn, res Reply, err error, now, deadline time.Time) {
	reason := reasonNone
	if pc.conn.broken.Load() {
		reason = reasonFor(err)
	}
	c.mu.Lock()
	c.countLocked(res, err)
	if reason == reasonNone && pc.conn.owed > 0 && !pc.removed {
		c.counters.abandoned++
		c.bg.Go(func() { c.settleAbandoned(pc, deadline) })
		c.mu.Unlock()
		return
	}
	if reason == reasonNone && !c.closing && c.open <= c.desired && !pc.removed {
		pc.lastUsed = now
		if ch, ok := c.waiters.pop(); ok {
			ch <- handoff{pc: pc}
		} else {
			c.idle = append(c.idle, pc)
		}
		c.mu.Unlock()
		return
	}
	c.putBackLocked(pc, reason, err)
}

// putBackLocked returns a connection to the pool, or removes it for
// reason, then unlocks and closes it if it must go.
func (c *Client) putBackLocked(pc *pconn, reason closeReason, err error) {
	closeIt := true
	if reason == reasonNone {
		closeIt = c.returnHealthyLocked(pc)
	} else {
		var lost error
		if reason == reasonBroken || reason == reasonTimeout || reason == reasonStray {
			lost = err
		}
		c.removeLocked(pc, reason, lost)
	}
	c.unlock()
	if closeIt {
		pc.conn.kill()
	}
}

// settleAbandoned reads and discards the reply a canceled request left on
// pc, then returns pc to the pool; a reply that has not come by deadline
// means the server stopped answering, and pc is closed. It runs on its own
// goroutine, joined by Close.
func (c *Client) settleAbandoned(pc *pconn, deadline time.Time) {
	err := pc.conn.drainOwed(deadline)
	reason := reasonNone
	if err != nil {
		reason = reasonFor(err)
		err = fmt.Errorf("fleare: %s: reading the reply of a canceled request: %w", c.addr, err)
	}
	c.mu.Lock()
	c.putBackLocked(pc, reason, err)
}

// returnHealthyLocked gives a healthy connection to the first waiter, or
// back to the idle stack, unless the pool is closing or too large: it then
// removes it and reports that the caller must close it (after unlocking).
// A pipelined connection gives back one slot.
func (c *Client) returnHealthyLocked(pc *pconn) (closeIt bool) {
	if pc.pipe != nil {
		return c.putSharedLocked(pc)
	}
	switch {
	case pc.removed:
		return true
	case c.closing:
		c.removeLocked(pc, reasonShutdown, nil)
		return true
	case c.open > c.desired:
		c.removeLocked(pc, reasonResize, nil)
		return true
	}
	if ch, ok := c.waiters.pop(); ok {
		ch <- handoff{pc: pc}
	} else {
		c.idle = append(c.idle, pc)
	}
	return false
}

// discard closes a connection found unfit outside a request: holding a
// stray reply, or its server gone.
func (c *Client) discard(pc *pconn, why error) {
	reason := reasonBroken
	if errors.Is(why, errStray) {
		reason = reasonStray
	}
	c.mu.Lock()
	c.removeLocked(pc, reason, &ConnError{Op: "health check", Addr: c.addr, Err: why})
	c.unlock()
	pc.conn.kill()
}

// removeLocked takes pc out of the pool (its caller closes it), counts why,
// and reacts: an error event for a lost connection, disconnected when it
// was the last one, and a poke to the maintainer to replace it.
func (c *Client) removeLocked(pc *pconn, reason closeReason, lost error) {
	if pc.removed {
		return
	}
	pc.removed = true
	delete(c.all, pc)
	if pc.pipe != nil {
		c.unshareLocked(pc)
		pc.pipe.quiet()
	}
	c.open--
	c.counters.closed[reason]++
	if reason == reasonBroken {
		c.sweep = true // a dead peer often means the others are dead too
	}
	if lost != nil {
		c.setErrLocked(lost)
		c.emitLocked(EventError, lost)
	}
	switch reason {
	case reasonBroken, reasonTimeout, reasonCanceled, reasonStray:
		if !c.closing {
			c.replacing++
			if c.open == 0 {
				c.transitionLocked(StateConnecting, EventDisconnected, EventConnecting)
			}
		}
	}
	c.wakeLocked()
	c.signalChangedLocked()
}

func (c *Client) setErrLocked(err error) {
	c.lastErr = err
	c.lastErrAt = time.Now()
}

// countFailure counts a request that failed before it got a connection.
func (c *Client) countFailure(err error) {
	c.mu.Lock()
	c.countErrorLocked(err)
	c.mu.Unlock()
}

// countLocked counts a request that was sent, and how it ended.
func (c *Client) countLocked(res Reply, err error) {
	c.counters.requests++
	switch {
	case err != nil:
		c.countErrorLocked(err)
	case res.Status == "Error":
		c.counters.serverErrors++
	}
}

func (c *Client) countErrorLocked(err error) {
	var se *ServerError
	if errors.As(err, &se) {
		c.counters.serverErrors++
		return
	}
	c.counters.errors++
}

// sweepIdle checks the idle connections, least recently used first, and
// closes those whose peer has gone or that hold a stray reply. It takes one
// connection out of the idle stack at a time, so callers barely notice
// (Stats still counts it idle). It runs on the maintainer goroutine.
func (c *Client) sweepIdle() {
	c.mu.Lock()
	c.sweep = false
	n := len(c.idle)
	var shared []*pconn
	for _, pc := range c.shared {
		if pc.inflight == 0 {
			shared = append(shared, pc)
		}
	}
	c.mu.Unlock()
	for _, pc := range shared {
		if pc.pipe.hold() {
			pc.pipe.unhold(pc.conn.idleErr())
		}
	}
	for range n {
		c.mu.Lock()
		if c.closing || len(c.idle) == 0 {
			c.mu.Unlock()
			return
		}
		pc := c.idle[0]
		copy(c.idle, c.idle[1:])
		c.idle[len(c.idle)-1] = nil
		c.idle = c.idle[:len(c.idle)-1]
		c.checking++
		c.mu.Unlock()
		why := pc.conn.idleErr()
		c.mu.Lock()
		c.checking--
		if why != nil {
			c.mu.Unlock()
			c.discard(pc, why)
			continue
		}
		closeIt := c.returnHealthyLocked(pc)
		c.unlock()
		if closeIt {
			pc.conn.kill()
		}
	}
}
