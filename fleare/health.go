package fleare

import (
	"container/heap"
	"slices"
	"sync"
	"time"
)

// Idle connections are checked by one goroutine for the whole process, not
// by a ticker per Client: with thousands of pools, thousands of tickers
// firing every second cost more than the checks. Each started Client is
// due for a check every HealthCheckInterval, counted from its last one;
// Clients started at different times fall due at different times, so the
// checks spread over the interval. The checker sleeps until the next
// Client falls due and checks every Client due soon after it (see
// checkQuantum), so it wakes at most about 1/checkQuantum times a second
// with the default interval. A check looks only at connections idle for a
// whole interval (neither used nor checked in it): a connection in use
// shows a dead server by failing its request.
// It also wakes the Client's maintainer when a connection is due for
// replacement (MaxLifetime, Reconnect), which the maintainer does not time
// itself.
//
// The checker goroutine starts with the first Client and returns when the
// last one is closed.

// checkQuantum is how far ahead of its due time a check is gathered into
// the wake-up of the checker that comes first: a tenth of the Client's
// interval, at most checkQuantum. With thousands of Clients falling due at
// scattered times, each wake-up costs more than checking one more Client
// (a timer, a goroutine and often a thread woken, one ppoll): gathering
// 100 ms ahead halved the checker's CPU at 10,000 idle connections against
// gathering 10 ms ahead. A Client checked early is next due an interval
// after that check, so Clients settle into shared wake-ups.
const checkQuantum = 100 * time.Millisecond

// gatherAhead is how early e's check may run.
func (e *hcEntry) gatherAhead() time.Duration {
	return min(checkQuantum, e.interval/10)
}

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
	c        *Client
	due      time.Duration // on the checker's clock (see sinceEpoch)
	interval time.Duration // the Client's HealthCheckInterval
	index    int           // in the heap; -1 once removed
	round    uint64        // the checker's round that last took it
}

// epoch starts the checker's clock: due times are monotonic durations
// since it, cheap to compare.
var epoch = time.Now()

func sinceEpoch() time.Duration { return time.Since(epoch) }

// add schedules c's first check an interval from now.
func (h *healthChecker) add(c *Client, interval time.Duration) *hcEntry {
	e := &hcEntry{c: c, due: sinceEpoch() + interval, interval: interval, index: -1}
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
	e.interval = interval
	if e.index >= 0 {
		e.due = sinceEpoch() + interval
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

// run checks Clients as they fall due, until none is left. A Client due
// is scheduled for its next check (an interval on) before it is checked,
// staying in the heap: one sift per check.
func (h *healthChecker) run() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var (
		r     checkRound
		round uint64
	)
	for {
		h.mu.Lock()
		if h.due.Len() == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		now := sinceEpoch()
		if wait := h.due[0].due - now; wait > 0 {
			h.mu.Unlock()
			t.Reset(wait)
			select {
			case <-t.C:
			case <-h.wake:
			}
			continue
		}
		round++
		for h.due[0].due <= now+h.due[0].gatherAhead() && h.due[0].round != round {
			e := h.due[0]
			r.batch = append(r.batch, e.c)
			e.due, e.round = now+e.interval, round
			heap.Fix(&h.due, 0)
		}
		h.mu.Unlock()
		r.check(epoch.Add(now))
	}
}

// checkRound is one wake-up's work: the Clients due, and the buffers that
// checking them needs, kept from one round to the next so that a round
// allocates nothing once they have grown.
type checkRound struct {
	batch []*Client
	pcs   []*pconn // the stale connections of every Client of batch
	ends  []int    // batch[i]'s are pcs[ends[i-1]:ends[i]]
	conns []*Conn
	why   []error
	look  lookBufs
}

// check checks the Clients of batch, which are due, looking at all their
// stale connections together (one system call per lookChunk sockets), then
// empties the round.
func (r *checkRound) check(now time.Time) {
	for _, c := range r.batch {
		_, r.pcs = c.takeStale(now, r.pcs)
		r.ends = append(r.ends, len(r.pcs))
	}
	for _, pc := range r.pcs {
		r.conns = append(r.conns, pc.conn)
	}
	r.why = slices.Grow(r.why, len(r.pcs))[:len(r.pcs)]
	r.look.look(r.conns, r.why)
	from := 0
	for i, c := range r.batch {
		c.finishCheck(r.pcs[from:r.ends[i]], r.why[from:r.ends[i]])
		from = r.ends[i]
	}
	clear(r.batch)
	clear(r.pcs)
	clear(r.conns)
	clear(r.why)
	r.batch, r.pcs, r.ends, r.conns, r.why = r.batch[:0], r.pcs[:0], r.ends[:0], r.conns[:0], r.why[:0]
}

// dueHeap orders entries by due time, earliest first.
type dueHeap []*hcEntry

func (q dueHeap) Len() int           { return len(q) }
func (q dueHeap) Less(i, j int) bool { return q[i].due < q[j].due }
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
// whole HealthCheckInterval at now, and returns the interval.
func (c *Client) checkIdle(now time.Time) time.Duration {
	interval, probes := c.takeStale(now, nil)
	c.finishCheck(probes, lookAll(probeConns(probes)))
	return interval
}

// takeStale takes out of use, for a check, the connections idle for a
// whole interval at now: plain ones out of the idle stack, pipelined ones
// by holding their reader role. It returns the interval, and stale with
// them appended.
func (c *Client) takeStale(now time.Time, stale []*pconn) (time.Duration, []*pconn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	interval := c.opts.HealthCheckInterval
	if c.closing {
		return interval, stale
	}
	if pc, _ := c.pickStaleLocked(false); pc != nil {
		c.wakeLocked() // past its lifetime, or older than Reconnect: the maintainer replaces it
	}
	cutoff := now.Add(-interval)
	first := len(stale)
	if c.pipelined {
		for _, pc := range c.shared {
			if pc.inflight == 0 && pc.staleAt(cutoff) && pc.pipe.hold() {
				pc.checked = now
				stale = append(stale, pc)
			}
		}
		return interval, stale
	}
	kept := c.idle[:0]
	for _, pc := range c.idle {
		if pc.staleAt(cutoff) {
			pc.checked = now
			stale = append(stale, pc)
		} else {
			kept = append(kept, pc)
		}
	}
	clear(c.idle[len(kept):])
	c.idle = kept
	c.checking += len(stale) - first
	return interval, stale
}

// finishCheck puts back the connections takeStale took, closing those
// whose look found them unfit (why[i] not nil).
func (c *Client) finishCheck(pcs []*pconn, why []error) {
	if len(pcs) == 0 {
		return
	}
	if c.pipelined {
		for i, pc := range pcs {
			pc.pipe.unhold(why[i])
		}
		return
	}
	c.mu.Lock()
	c.checking -= len(pcs)
	var closing []*pconn
	for i, pc := range pcs {
		if why[i] != nil {
			c.removeLocked(pc, reasonFor(why[i]), &ConnError{Op: "health check", Addr: c.addr, Err: why[i]})
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

func probeConns(pcs []*pconn) []*Conn {
	conns := make([]*Conn, len(pcs))
	for i, pc := range pcs {
		conns[i] = pc.conn
	}
	return conns
}

// staleAt reports whether pc was neither used nor checked since cutoff.
// Guarded by Client.mu.
func (pc *pconn) staleAt(cutoff time.Time) bool {
	return pc.lastUsed.Before(cutoff) && pc.checked.Before(cutoff)
}
