package fleare

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// Batches: several requests handed to the pool at once, for a caller that
// has them ready together (a proxy relaying a pipelining app). In plain
// mode the batch takes one connection and goes out in one write; in
// pipelined mode it takes as many slots as one connection has free (up to
// the whole batch) and is queued on that connection under one lock, so
// that it goes out in one write, behind or with the requests already
// waiting there; what does not fit takes slots on the next connection with
// room, or waits for slots like a single request. Replies are matched in
// order, as for single requests, and every guarantee of the single path
// holds per request: the stray-reply check, the request deadline (a request
// that times out retires or closes its connection as Exec's would), a
// cancellation that leaves the connection up, pause, MaxQueue, and Stats
// (each request counted once).

// Outcome is the outcome of one request of a batch (Client.ExecBatch): the
// server's reply as it came, an "Error" reply included, or Err when the
// request failed (as Exec's error).
type Outcome struct {
	Reply Reply
	Err   error
}

// ExecBatch sends reqs as one batch and returns their outcomes in the order
// of reqs. It never fails as a whole: each request has its own outcome,
// with the errors Exec would return for it. A request refused by the guard
// (see UnsafeCommands) fails alone with ErrUnsafeCommand, unsent, and the
// others go out. ctx and RequestTimeout bound the whole batch: one deadline
// for all its requests, counted from the call.
//
// Requests of one batch that fit on one connection run there in order, as
// the server answers a connection's requests one after another. A batch
// split over several connections (in pipelined mode, when the connection
// taking it has fewer free slots than requests) runs its parts
// concurrently: a caller whose requests depend on each other's effects
// must not rely on their order then.
func (c *Client) ExecBatch(ctx context.Context, reqs []Request) []Outcome {
	out := make([]Outcome, len(reqs))
	send := make([]int, 0, len(reqs)) // indexes of the requests to send
	allowUnsafe := c.allowUnsafe.Load()
	for i, r := range reqs {
		switch {
		case r.Command == "":
			out[i].Err = errEmptyCommand
		case !allowUnsafe && IsUnsafe(r.Command):
			out[i].Err = unsafeError(r.Command)
		default:
			send = append(send, i)
			continue
		}
		c.countFailure(out[i].Err)
	}
	if len(send) == 0 {
		return out
	}
	now := time.Now()
	deadline := requestDeadline(ctx, now, time.Duration(c.reqTimeout.Load()))
	if err := c.holdIfPaused(ctx, deadline); err != nil {
		c.failAll(out, send, err)
		return out
	}
	if c.pipelined {
		c.batchShared(ctx, reqs, send, out, now, deadline)
	} else {
		c.batchPlain(ctx, reqs, send, out, now, deadline)
	}
	return out
}

// Pipeline sends reqs as one batch, as ExecBatch does, and returns their
// results in order, as Conn.Pipeline does: Value for an "Ok" reply, Err for
// an "Error" reply (a *ServerError) or for the request failing (the error
// ExecBatch gives it). The error return is for the whole batch refused
// before anything was sent: a request refused by the guard (ErrUnsafeCommand
// names it; unlike ExecBatch, nothing goes out) or an empty command.
func (c *Client) Pipeline(ctx context.Context, reqs []Request) ([]Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	allowUnsafe := c.allowUnsafe.Load()
	for _, r := range reqs {
		var err error
		switch {
		case r.Command == "":
			err = errEmptyCommand
		case !allowUnsafe && IsUnsafe(r.Command):
			err = unsafeError(r.Command)
		}
		if err != nil {
			c.countFailure(err)
			return nil, err
		}
	}
	outs := c.ExecBatch(ctx, reqs)
	res := make([]Result, len(reqs))
	for i, o := range outs {
		res[i].Value, res[i].Err = o.Reply.value(reqs[i].Command, o.Err)
	}
	return res, nil
}

// failAll gives every request of send the same error, counted each.
func (c *Client) failAll(out []Outcome, send []int, err error) {
	c.mu.Lock()
	for _, i := range send {
		out[i].Err = err
		c.countErrorLocked(err)
	}
	c.mu.Unlock()
}

// batchPlain sends the batch on one connection, in one write.
func (c *Client) batchPlain(ctx context.Context, reqs []Request, send []int, out []Outcome, now, deadline time.Time) {
	pc, err := c.acquire(ctx, deadline)
	if err != nil {
		c.failAll(out, send, err)
		return
	}
	last := pc.conn.execBatch(ctx, deadline, reqs, send, out)
	// The last request decides what becomes of the connection, as after
	// Exec: a failure breaks it for every request after the failed one,
	// and a cancellation leaves all the remaining replies owed.
	c.mu.Lock()
	for _, i := range send {
		if i != last {
			c.countLocked(out[i].Reply, out[i].Err)
			if isCanceled(out[i].Err) && pc.conn.owed > 0 {
				c.counters.abandoned++
			}
		}
	}
	c.mu.Unlock()
	c.release(pc, out[last].Reply, out[last].Err, now, deadline)
}

// isCanceled reports whether err is a request's cancellation.
func isCanceled(err error) bool {
	return err != nil && errors.Is(err, context.Canceled)
}

// execBatch writes the requests of reqs listed in send in one write and
// reads their replies, filling out. It returns the index of the last
// request it gave an outcome to, whose error (if any) tells the pool what
// became of the connection. A request that cannot be encoded fails alone,
// unsent. A cancellation leaves the connection up, owing the replies not
// read yet (the pool discards them); any other failure closes it, and
// fails the requests after it as well (all of them for a stray reply).
func (c *Conn) execBatch(ctx context.Context, deadline time.Time, reqs []Request, send []int, out []Outcome) (last int) {
	last = send[len(send)-1]
	if !c.busy.CompareAndSwap(false, true) {
		fillErr(out, send, errConcurrentUse)
		return last
	}
	defer c.busy.Store(false)
	if err := c.usable(ctx, reqs[send[0]].Command); err != nil {
		fillErr(out, send, err)
		return last
	}
	buf := c.wbuf[:0]
	sent := send[:0:0]
	for _, i := range send {
		var err error
		if buf, err = c.appendCommand(buf, reqs[i].Command, reqs[i].Args); err != nil {
			out[i].Err = err // appendCommand left buf as it was
			continue
		}
		sent = append(sent, i)
	}
	c.wbuf = buf
	if len(sent) == 0 {
		return last
	}
	last = sent[len(sent)-1]
	stop := c.arm(ctx, deadline)
	defer c.disarm(stop)
	if c.owed > 0 {
		if err := c.settle(ctx); err != nil {
			fillErr(out, sent, err)
			return last
		}
	}
	if n, err := c.nc.Write(c.wbuf); err != nil {
		fillErr(out, sent, c.writeFailed(ctx, n, err))
		return last
	}
	for k, i := range sent {
		if err := c.readReply(ctx, len(sent)-k); err != nil {
			if errors.Is(err, errStray) {
				// A frame no request asked for came with the last reply,
				// and it may have come first: no reply of the batch can
				// be trusted.
				k = 0
				for _, i := range sent {
					out[i].Reply = Reply{}
				}
			}
			fillErr(out, sent[k:], err)
			return last
		}
		out[i].Reply = c.reply()
	}
	return last
}

// fillErr gives the requests of idx the error err.
func fillErr(out []Outcome, idx []int, err error) {
	for _, i := range idx {
		out[i].Err = err
	}
}

// batchShared sends the batch on slots of pipelined connections: as many
// requests as the first connection with room has free slots, then the
// rest likewise, each part written in one write. Parts run concurrently,
// each from its own goroutine but the last.
func (c *Client) batchShared(ctx context.Context, reqs []Request, send []int, out []Outcome, now, deadline time.Time) {
	var parts chan struct{}
	started := 0
	for len(send) > 0 {
		pc, k, err := c.acquireSlots(ctx, deadline, len(send))
		if err != nil {
			c.failAll(out, send, err)
			break
		}
		part := send[:k]
		send = send[k:]
		if len(send) == 0 {
			c.sharedPart(ctx, pc, reqs, part, out, now, deadline)
			break
		}
		if parts == nil {
			parts = make(chan struct{}, len(send)+k)
		}
		started++
		go func() {
			c.sharedPart(ctx, pc, reqs, part, out, now, deadline)
			parts <- struct{}{}
		}()
	}
	for range started {
		<-parts
	}
}

// acquireSlots takes up to want slots on one pipelined connection: on the
// first with room, at once, or else after waiting in FIFO order like a
// single request, on the connection handed over, as many as it has free
// when the batch's turn comes.
func (c *Client) acquireSlots(ctx context.Context, deadline time.Time, want int) (*pconn, int, error) {
	c.mu.Lock()
	for _, pc := range c.shared {
		if free := c.opts.Pipeline - pc.inflight; free > 0 {
			k := min(free, want)
			pc.inflight += k
			c.mu.Unlock()
			return pc, k, nil
		}
	}
	if err := c.cannotWaitLocked(); err != nil {
		c.mu.Unlock()
		return nil, 0, err
	}
	ch := waitChans.Get().(chan handoff)
	start := monoNow()
	c.waiters.push(c, ch, ctx, deadline, start)
	c.counters.waits++
	if c.batchWant == nil {
		c.batchWant = make(map[chan handoff]int)
	}
	c.batchWant[ch] = want
	c.mu.Unlock()
	return c.waitSlots(ctx, ch, start)
}

// slotsForLocked is how many slots of pc to hand the waiter ch: one for a
// single request, as many as pc has free up to what a batch wants.
func (c *Client) slotsForLocked(ch chan handoff, pc *pconn) int {
	want, ok := c.batchWant[ch]
	if !ok {
		return 1
	}
	k := max(1, min(want, c.opts.Pipeline-pc.inflight))
	c.batchWant[ch] = k
	return k
}

// waitSlots is wait for a batch: it returns the connection handed over on
// ch and the slots handed with it. A batch that gives up just as slots
// are handed to it gives them all back.
func (c *Client) waitSlots(ctx context.Context, ch chan handoff, start int64) (*pconn, int, error) {
	h := c.receive(ctx, ch, true)
	c.mu.Lock()
	k := c.batchWant[ch]
	delete(c.batchWant, ch)
	c.mu.Unlock()
	pc, err := c.waited(ctx, ch, start, h)
	if err != nil {
		return nil, 0, err
	}
	return pc, k, nil
}

// giveUpSlots is giveUp for a batch: slots handed meanwhile all go back.
func (c *Client) giveUpSlots(ch chan handoff) handoff {
	c.mu.Lock()
	if c.waiters.remove(ch) {
		delete(c.batchWant, ch)
		c.mu.Unlock()
		return handoff{err: errWaitExpired}
	}
	h := <-ch // sent under c.mu, so here now
	k := c.batchWant[ch]
	delete(c.batchWant, ch)
	if h.pc != nil && c.putSlotsLocked(h.pc, k) {
		defer h.pc.conn.kill()
	}
	c.unlock()
	return handoff{err: errWaitExpired}
}

// putSlotsLocked gives back n slots of pc at once, as putSharedLocked does
// one: the slots freed go to the waiters together, so that a waiting batch
// gets as many of them as it wants.
func (c *Client) putSlotsLocked(pc *pconn, n int) (closeIt bool) {
	if n <= 0 {
		return false
	}
	pc.inflight -= n - 1
	return c.putSharedLocked(pc)
}

// sharedPart sends the requests of part on slots of pc, one per request,
// and gives back each slot, unless its request was abandoned (the pipe
// then gives it back through freeSlot, as for Exec). A connection found
// unfit before anything was sent on it is dropped and the part retried on
// another, as are requests failed unsent when their connection failed.
func (c *Client) sharedPart(ctx context.Context, pc *pconn, reqs []Request, part []int, out []Outcome, now, deadline time.Time) {
	abandoned := make([]bool, len(part))
	if pc.pipe.execBatch(ctx, deadline, reqs, part, out, abandoned) {
		c.freeSlots(pc, len(part)) // the pipe failed: pc is out of the pool already
		c.batchShared(ctx, reqs, part, out, now, deadline)
		return
	}
	var again []int // failed unsent with their connection: sent on another
	c.mu.Lock()
	kept := 0
	for k, i := range part {
		if errors.Is(out[i].Err, errUnfit) {
			out[i].Err = nil
			again = append(again, i)
			kept++
			continue
		}
		c.countLocked(out[i].Reply, out[i].Err)
		if abandoned[k] {
			if !errors.As(out[i].Err, new(*TimeoutError)) {
				c.counters.abandoned++ // canceled; a timed-out request is counted as a timeout
			}
			continue
		}
		kept++
	}
	pc.lastUsed = now
	closeIt := c.putSlotsLocked(pc, kept)
	c.unlock()
	if closeIt {
		pc.conn.kill()
	}
	if len(again) > 0 {
		c.batchShared(ctx, reqs, again, out, now, deadline)
	}
}

// freeSlots gives back n slots of pc, taken for requests never sent.
func (c *Client) freeSlots(pc *pconn, n int) {
	c.mu.Lock()
	closeIt := c.putSlotsLocked(pc, n)
	c.unlock()
	if closeIt {
		pc.conn.kill()
	}
}

// execBatch queues the requests of reqs listed in part under one lock, so
// that they go out in one write, then waits for each reply in order,
// filling out. abandoned[k] reports that part[k]'s call was left in the
// queue (canceled, or timed out while others wait): onFree will say when it
// is gone. unfit reports that nothing was sent and the pipe failed (an
// idle connection found holding a stray reply or closed by its server):
// the caller retries elsewhere.
func (p *pipe) execBatch(ctx context.Context, deadline time.Time, reqs []Request, part []int, out []Outcome, abandoned []bool) (unfit bool) {
	if err := p.usable(ctx, reqs[part[0]].Command); err != nil {
		if errors.Is(err, errUnfit) {
			return true
		}
		fillErr(out, part, err)
		return false
	}
	cs, write, err := p.enqueueBatch(reqs, part, out, deadline)
	if err != nil {
		if errors.Is(err, errUnfit) {
			return true
		}
		fillErr(out, part, err)
		return false
	}
	if write {
		p.flush(deadline)
	}
	for k, c := range cs {
		if c == nil {
			continue // not encodable: its error is in out
		}
		i := part[k]
		out[i].Reply, abandoned[k], out[i].Err = p.await(ctx, c, deadline)
	}
	return false
}

// enqueueBatch is enqueue for several requests: it encodes each behind
// those already waiting and queues its call, all under one lock. A request
// that cannot be encoded gets its error in out and a nil call. write
// reports that the caller must write.
func (p *pipe) enqueueBatch(reqs []Request, part []int, out []Outcome, deadline time.Time) (cs []*call, write bool, err error) {
	if err = p.lockOpen(); err != nil {
		return nil, false, err
	}
	cs = make([]*call, len(part))
	for k, i := range part {
		o, err := wire.AppendCommand(p.out, reqs[i].Command, reqs[i].Args)
		if err != nil {
			p.out = o // AppendCommand cut it back to where it was
			out[i].Err = fmt.Errorf("fleare: %s: request not sent: %w", reqs[i].Command, err)
			continue
		}
		p.out = o
		c := calls.Get().(*call)
		c.deadline = deadline
		p.queue.push(c)
		p.unsent++
		cs[k] = c
	}
	if p.unsent > 0 && !p.writing && p.batchLocked() {
		p.writing, write = true, true
	}
	p.mu.Unlock()
	return cs, write, nil
}
