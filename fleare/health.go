package fleare

import (
	"container/heap"
	"sync"
	"time"
)

// Idle connections are checked by one goroutine for the whole process, not
// by a ticker per Client: with thousands of pools, thousands of tickers
// firing every second cost more than the checks. Each started Client is
// due for a check every HealthCheckInterval, counted from its last one;
// Clients started at different times fall due at different times, so the
// checks spread over the interval. The checker sleeps until the next
// Client falls due and checks every Client due within checkQuantum of it,
// so it wakes at most about 1/checkQuantum times a second. A check looks
// only at connections idle for a whole interval (neither used nor checked
// in it): a connection in use shows a dead server by failing its request.
//
// The checker goroutine starts with the first Client and returns when the
// last one is closed.

// checkQuantum is how close together due checks are gathered into one
// wake-up of the checker.
const checkQuantum = 10 * time.Millisecond

var checker = healthChecker{wake: make(chan struct{}, 1)}

// healthChecker is the process-wide checker of idle connections.
type healthChecker struct {
	wake chan struct{} // capacity 1: the schedule changed

	mu sync.Mutex
	// Guarded by mu.
	due     dueHeap
	running bool // the goroutine runs
}

// hcEntry is a Client's place in the checker's schedule. Guarded by
// healthChecker.mu.
type hcEntry struct {
	c       *Client
	due     time.Time
	index   int  // in the heap; -1 while being checked or once removed
	removed bool // the Client closed
}

// add schedules c's first check an interval from now.
func (h *healthChecker) add(c *Client, interval time.Duration) *hcEntry {
	e := &hcEntry{c: c, due: time.Now().Add(interval), index: -1}
	h.mu.Lock()
	heap.Push(&h.due, e)
	start := !h.running
	h.running = true
	h.mu.Unlock()
	if start {
		go h.run()
	}
	h.poke()
	return e
}

// remove takes a closed Client out of the schedule.
func (h *healthChecker) remove(e *hcEntry) {
	h.mu.Lock()
	e.removed = true
	if e.index >= 0 {
		heap.Remove(&h.due, e.index)
	}
	h.mu.Unlock()
	h.poke()
}

// reschedule moves a Client's next check to an interval from now, after
// its HealthCheckInterval changed.
func (h *healthChecker) reschedule(e *hcEntry, interval time.Duration) {
	h.mu.Lock()
	if e.index >= 0 {
		e.due = time.Now().Add(interval)
		heap.Fix(&h.due, e.index)
	}
	h.mu.Unlock()
	h.poke()
}

func (h *healthChecker) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run checks Clients as they fall due, until none is left.
func (h *healthChecker) run() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var batch []*hcEntry
	for {
		h.mu.Lock()
		if h.due.Len() == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		now := time.Now()
		if wait := h.due[0].due.Sub(now); wait > 0 {
			h.mu.Unlock()
			t.Reset(wait)
			select {
			case <-t.C:
			case <-h.wake:
			}
			continue
		}
		horizon := now.Add(checkQuantum)
		for h.due.Len() > 0 && !h.due[0].due.After(horizon) {
			batch = append(batch, heap.Pop(&h.due).(*hcEntry))
		}
		h.mu.Unlock()
		for _, e := range batch {
			interval := e.c.checkIdle(now)
			e.due = now.Add(interval) // e is out of the heap: only this goroutine touches due
		}
		h.mu.Lock()
		for _, e := range batch {
			if !e.removed {
				heap.Push(&h.due, e)
			}
		}
		h.mu.Unlock()
		clear(batch)
		batch = batch[:0]
	}
}

// dueHeap orders entries by due time, earliest first.
type dueHeap []*hcEntry

func (q dueHeap) Len() int           { return len(q) }
func (q dueHeap) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueHeap) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}

func (q *dueHeap) Push(x any) {
	e := x.(*hcEntry)
	e.index = len(*q)
	*q = append(*q, e)
}

func (q *dueHeap) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*q = old[:n-1]
	return e
}

// checkIdle checks the Client's connections that have been idle for a
// whole HealthCheckInterval at now, and returns the interval. It runs on
// the checker goroutine.
func (c *Client) checkIdle(now time.Time) time.Duration {
	c.mu.Lock()
	interval := c.opts.HealthCheckInterval
	if c.closing {
		c.mu.Unlock()
		return interval
	}
	cutoff := now.Add(-interval)
	if c.pipelined {
		var stale []*pconn
		for _, pc := range c.shared {
			if pc.inflight == 0 && pc.staleAt(cutoff) {
				pc.checked = now
				stale = append(stale, pc)
			}
		}
		c.mu.Unlock()
		for _, pc := range stale {
			pc.pipe.checkIdle()
		}
		return interval
	}
	var stale []*pconn
	kept := c.idle[:0]
	for _, pc := range c.idle {
		if pc.staleAt(cutoff) {
			stale = append(stale, pc)
		} else {
			kept = append(kept, pc)
		}
	}
	if len(stale) == 0 {
		c.mu.Unlock()
		return interval
	}
	clear(c.idle[len(kept):])
	c.idle = kept
	c.checking += len(stale)
	c.mu.Unlock()
	c.checkTaken(stale, now)
	return interval
}

// checkTaken looks at connections taken out of the idle stack for a check,
// and puts back those that pass.
func (c *Client) checkTaken(pcs []*pconn, now time.Time) {
	var bad []error
	for _, pc := range pcs {
		bad = append(bad, pc.conn.idleErr())
	}
	c.mu.Lock()
	c.checking -= len(pcs)
	var closing []*pconn
	for i, pc := range pcs {
		pc.checked = now
		if bad[i] != nil {
			c.removeLocked(pc, reasonFor(bad[i]), &ConnError{Op: "health check", Addr: c.addr, Err: bad[i]})
			closing = append(closing, pc)
			continue
		}
		if c.returnHealthyLocked(pc) {
			closing = append(closing, pc)
		}
	}
	c.unlock()
	c.closeAll(closing)
}

// staleAt reports whether pc was neither used nor checked since cutoff.
// Guarded by Client.mu.
func (pc *pconn) staleAt(cutoff time.Time) bool {
	return pc.lastUsed.Before(cutoff) && pc.checked.Before(cutoff)
}
