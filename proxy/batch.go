package proxy

import (
	"context"
	"errors"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// BatchBackend is a Backend that can also send several requests as one
// batch, returning their outcomes in order (each as Exec's reply and
// error). Both *fleare.Client and *manager.Client satisfy it. The proxy
// detects it when New is called; with a plain Backend, requests go one
// call each.
type BatchBackend interface {
	Backend
	ExecBatch(ctx context.Context, reqs []fleare.Request) []fleare.Outcome
}

// A client pipelining its requests sends several in one write, and the
// proxy reads them in one read. Consecutive read-only requests read
// together (see readOnly) are gathered, their calls queued in order, and
// sent to a BatchBackend as one batch from one worker goroutine: the pool
// takes one connection (or the free slots of one) for all of them and
// writes them in one write, where one call each would pay a pool round,
// and a slot, per request. A batch ends where the requests already read
// do (the proxy never waits for more), at a request that is not
// read-only or that the proxy answers itself (which keep their order
// against the batch: the batch is sent first), and at MaxPipeline calls
// queued (the reply queue's bound). Read-only requests may run
// concurrently anyway (see dispatch), so a batch split by the pool over
// several connections changes no reply.

// errShortBatch fails the requests of a batch a BatchBackend returned no
// outcome for.
var errShortBatch = errors.New("proxy: the backend returned fewer outcomes than requests")

// batchItem is one request of a batch being gathered (the request itself
// is in session.batchReqs, at the same index).
type batchItem struct {
	c    *call
	size int
	post func(fleare.Reply) fleare.Reply
}

// batchCap is the room a batch is given when it starts: a burst of
// pipelined requests needs no growing until then.
const batchCap = 16

// batchable reports whether a request may join a batch.
func (s *session) batchable(name string) bool {
	return s.p.batcher != nil && readOnly(name)
}

// gather queues a call for a read-only request and adds the request to the
// batch being gathered, sending the batch first if the reply queue is
// full. The request's bytes count toward ClientBuffer from now on.
func (s *session) gather(ctx context.Context, name string, args []string, size int, post func(fleare.Reply) fleare.Reply) bool {
	c := &call{done: make(chan struct{})}
	if !s.tryEnqueue(c) {
		if !s.sendBatch(ctx) || !s.enqueue(c, ctx.Done()) {
			return false
		}
	}
	if s.batch == nil {
		n := min(batchCap, s.cfg.MaxPipeline)
		s.batch, s.batchReqs = make([]batchItem, 0, n), make([]fleare.Request, 0, n)
	}
	s.buffered.Add(int64(size)) // held from now on: ClientBuffer bounds it
	s.batch = append(s.batch, batchItem{c: c, size: size, post: post})
	s.batchReqs = append(s.batchReqs, fleare.Request{Command: name, Args: args})
	return true
}

// tryEnqueue queues c if a slot is free at once.
func (s *session) tryEnqueue(c *call) bool {
	select {
	case s.slots <- struct{}{}:
	default:
		return false
	}
	s.pending.Add(1)
	s.queue <- c // never blocks: queue has as much room as slots
	return true
}

// batchDue reports whether the batch gathered so far must be sent before
// the reader reads on: no whole request is waiting in the read buffer, or
// the client's bytes in flight reached ClientBuffer (the reader may be
// about to wait for room, which only sent requests make).
func (s *session) batchDue() bool {
	return len(s.batch) > 0 && (!s.frameBuffered() || s.buffered.Load() > int64(s.cfg.ClientBuffer))
}

// sendBatch hands the gathered requests to a worker, in parts of at most
// MaxInFlight requests, each holding a MaxInFlight token per request.
// Their calls are queued already; a call whose request cannot be sent
// (the session is ending) is completed with an "Error". It reports false
// when the session must end.
func (s *session) sendBatch(ctx context.Context) bool {
	items, reqs := s.batch, s.batchReqs
	s.batch, s.batchReqs = nil, nil // the workers own them now
	for len(items) > 0 {
		sem, n, ok := s.p.acquireN(len(items), s.broken, ctx.Done())
		if !ok {
			for _, it := range items {
				s.unbuffer(int64(it.size))
				it.c.set(s, fleare.Reply{Status: "Error", Result: []byte("ProxyError: connection closing\n"), ClientID: s.id})
				close(it.c.done)
			}
			return false
		}
		part, partReqs := items[:n:n], reqs[:n:n]
		items, reqs = items[n:], reqs[n:]
		size := 0
		s.running = s.pruneRunning()
		for _, it := range part {
			size += it.size
			s.running = append(s.running, it.c)
		}
		s.wg.Add(1) // done by the task
		s.p.runTask(task{s: s, ctx: ctx, batch: part, reqs: partReqs, sem: sem, size: size})
	}
	return true
}

// acquireN takes n MaxInFlight tokens (at most MaxInFlight) of one
// semaphore, waiting as long as neither stop channel is closed, and
// returns how many it took; the caller gives each back. Sessions take
// tokens for a batch one at a time, through batchGate: a batch never waits
// holding part of its tokens while another holds the rest, and a batch is
// not cut into single requests when tokens come back one at a time.
func (p *Proxy) acquireN(n int, stop1, stop2 <-chan struct{}) (*semaphore, int, bool) {
	select {
	case p.batchGate <- struct{}{}:
	case <-stop1:
		return nil, 0, false
	case <-stop2:
		return nil, 0, false
	}
	defer func() { <-p.batchGate }()
	for {
		sem := p.sem.Load()
		want := min(n, cap(sem.tokens))
		got, ok := sem.acquireN(want, stop1, stop2)
		if got == want {
			return sem, want, true
		}
		for range got {
			sem.release()
		}
		if !ok {
			return nil, 0, false
		}
		// Replaced meanwhile: take the tokens of the new semaphore.
	}
}

// acquireN takes n tokens, unless a stop channel is closed (ok false) or
// the semaphore is replaced (ok true) first; it returns how many it took.
func (s *semaphore) acquireN(n int, stop1, stop2 <-chan struct{}) (got int, ok bool) {
	for got < n {
		select {
		case s.tokens <- struct{}{}:
			got++
		case <-s.replaced:
			return got, true
		case <-stop1:
			return got, false
		case <-stop2:
			return got, false
		}
	}
	return got, true
}

// runBatch sends a batch and completes its calls in order. The session
// counted the task in its wg.
func (t *task) runBatch() {
	s := t.s
	defer s.wg.Done()
	outs := s.p.batcher.ExecBatch(t.ctx, t.reqs)
	for range t.batch {
		t.sem.release()
	}
	s.unbuffer(int64(t.size))
	for i, it := range t.batch {
		var o fleare.Outcome
		if i < len(outs) {
			o = outs[i]
		} else {
			o.Err = errShortBatch
		}
		it.c.set(s, s.outcome(o.Reply, o.Err, it.post))
		close(it.c.done)
	}
}
