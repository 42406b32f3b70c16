package fleare

import (
	"context"
	"errors"
	"slices"
	"time"
)

// The pool in pipelined mode (Options.Pipeline > 1). A connection is lent
// to up to Pipeline requests at once instead of one: each lending is a
// slot, counted in pconn.inflight. Connections taking requests are in
// Client.shared and are filled in order, skipping full ones; a caller
// finding every connection full waits in the same FIFO as in plain mode and
// is handed a slot as one frees. c.idle stays empty. A connection leaving
// the pool while requests are in flight on it (shrink, Close, a timeout,
// Reconnect, MaxLifetime) takes no new request and is closed when its last
// one returns; the requests on it get their replies. A connection whose
// pipe fails is removed at once by the pipe's onFail hook; the pipe has
// already failed the requests in flight on it.

// acquireShared returns a connection with a free slot, waiting in FIFO
// order until deadline if every connection is full.
func (c *Client) acquireShared(ctx context.Context, deadline time.Time) (*pconn, error) {
	c.mu.Lock()
	if pc := c.pickSharedLocked(); pc != nil {
		c.mu.Unlock()
		return pc, nil
	}
	return c.queueLocked(ctx, deadline)
}

// pickSharedLocked takes a slot on the first connection that has one
// free. Filling one connection before the next makes batches as large as
// the load allows (one write and one read carry many requests) and lets
// one caller reuse one connection, as the plain pool's stack does; a
// round-robin spreading 16 callers over 8 connections cost 2.5 to 3 times
// the CPU per request on both sides (BenchmarkPing, same run).
func (c *Client) pickSharedLocked() *pconn {
	for _, pc := range c.shared {
		if pc.inflight < c.opts.Pipeline {
			pc.inflight++
			return pc
		}
	}
	return nil
}

// execShared sends one request on a slot of pc and gives the slot back,
// unless the request was abandoned: the pipe then gives it back through
// freeSlot once the request leaves its queue.
// A connection found unfit before anything was sent on it (a stray reply,
// its server gone) is dropped and another one taken, as in plain mode.
func (c *Client) execShared(ctx context.Context, pc *pconn, deadline, now time.Time, command string, args []string) (Reply, error) {
	res, abandoned, err := pc.pipe.exec(ctx, deadline, command, args)
	for errors.Is(err, errUnfit) {
		c.freeSlot(pc) // the pipe failed: pc is out of the pool already
		if pc, err = c.acquire(ctx, deadline); err != nil {
			c.countFailure(err)
			return Reply{}, err
		}
		res, abandoned, err = pc.pipe.exec(ctx, deadline, command, args)
	}
	c.mu.Lock()
	c.countLocked(res, err)
	if abandoned && !errors.As(err, new(*TimeoutError)) {
		c.counters.abandoned++ // canceled; a timed-out request is counted as a timeout
	}
	pc.lastUsed = now
	closeIt := !abandoned && c.putSharedLocked(pc)
	c.unlock()
	if closeIt {
		pc.conn.kill()
	}
	return res, err
}

// freeSlot gives back the slot of an abandoned request.
func (c *Client) freeSlot(pc *pconn) {
	c.mu.Lock()
	closeIt := c.putSharedLocked(pc)
	c.unlock()
	if closeIt {
		pc.conn.kill()
	}
}

// putSharedLocked gives back a slot of pc: to the first waiter, if any and
// pc still takes requests. It reports whether the caller must close pc
// (after unlocking): the connection was retired and this was its last
// request.
func (c *Client) putSharedLocked(pc *pconn) (closeIt bool) {
	pc.inflight--
	switch {
	case pc.removed:
		// Failed, or closed by Close: whoever removed it closed it. One
		// retired with requests in flight (after a timeout, or replaced
		// by Reconnect or MaxLifetime) is closed by its last request,
		// which stops its watch (removal found calls waiting).
		if pc.retired && pc.inflight == 0 {
			pc.pipe.quiet()
			return true
		}
		return false
	case pc.retiring || c.closing:
		if pc.inflight > 0 {
			return false
		}
		reason := reasonResize
		if c.closing {
			reason = reasonShutdown
		}
		c.removeLocked(pc, reason, nil)
		return true
	}
	c.handSlotsLocked(pc)
	return false
}

// handSlotsLocked hands pc's free slots to waiters, first come first
// served.
func (c *Client) handSlotsLocked(pc *pconn) {
	for pc.inflight < c.opts.Pipeline {
		ch, ok := c.waiters.pop()
		if !ok {
			return
		}
		pc.inflight += c.slotsForLocked(ch, pc)
		ch <- handoff{pc: pc}
	}
}

// addSharedLocked starts a new connection in pipelined mode and hands its
// slots to waiters.
func (c *Client) addSharedLocked(pc *pconn) {
	pc.pipe = newPipe(pc.conn, &c.pipes, func(cause error) { c.pipeFailed(pc, cause) }, func() { c.freeSlot(pc) }, func() { c.pipeExpired(pc) })
	c.shared = append(c.shared, pc)
	c.handSlotsLocked(pc)
}

// pipeFailed removes a connection whose pipe failed. The pipe has closed it
// and failed its requests.
func (c *Client) pipeFailed(pc *pconn, cause error) {
	reason := reasonBroken
	switch {
	case errors.Is(cause, errPipeAborted):
		reason = reasonTimeout
	case errors.Is(cause, errStray):
		reason = reasonStray
	}
	c.mu.Lock()
	if !pc.removed {
		c.removeLocked(pc, reason, &ConnError{Op: "read", Addr: c.addr, Err: cause})
	}
	c.unlock()
}

// pipeExpired retires a connection on which a request's deadline passed
// while other requests still wait for their replies on it: it takes no new
// request, counts as closed on a timeout, and is replaced by the
// maintainer (through the server's gate, like any replacement) while its
// requests finish; the last one closes it. Close closes it under them.
func (c *Client) pipeExpired(pc *pconn) {
	c.mu.Lock()
	if !pc.removed && !c.closing { // else Close closes it
		pc.retired = true
		c.removeLocked(pc, reasonTimeout, nil)
		c.retiredLocked() // prune
		c.ctl.retired = append(c.ctl.retired, pc)
	}
	c.unlock()
}

// unshareLocked takes pc out of the connections that take requests.
func (c *Client) unshareLocked(pc *pconn) {
	if i := slices.Index(c.shared, pc); i >= 0 {
		c.shared = slices.Delete(c.shared, i, i+1)
	}
}

// retireSharedLocked retires connections while more than keep take
// requests, the least busy first. Those with no request in flight are
// removed at once and returned for the caller to close; the others are
// closed by their last request.
func (c *Client) retireSharedLocked(keep int, reason closeReason) []*pconn {
	var victims []*pconn
	for len(c.shared) > keep {
		pc := slices.MinFunc(c.shared, func(a, b *pconn) int { return a.inflight - b.inflight })
		c.unshareLocked(pc)
		pc.retiring = true
		if pc.inflight == 0 {
			c.removeLocked(pc, reason, nil)
			victims = append(victims, pc)
		}
	}
	return victims
}

// idleSharedLocked counts the connections with no request in flight.
func (c *Client) idleSharedLocked() (idle, inflight int) {
	for pc := range c.all {
		if pc.inflight == 0 {
			idle++
		}
		inflight += pc.inflight
	}
	return idle, inflight
}
