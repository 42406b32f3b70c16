package fleare

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

var (
	errPipeAborted = errors.New("connection closed: a request pipelined on it timed out")
	// errUnfit fails a request, unsent, on a pipelined connection that
	// cannot take it: found holding a stray reply or closed by its server
	// when idle, or failed before the request's bytes were written; the
	// pool tries another connection.
	errUnfit = errors.New("connection unfit")
	// errRetired fails a request, unsent, on a connection retired after a
	// request on it timed out; the pool tries another connection.
	errRetired = fmt.Errorf("%w: retired after a timeout", errUnfit)
)

// pipe runs a Conn in pipelined mode: several callers' requests share the
// connection, with no goroutine of its own. The callers themselves do the
// I/O, in two roles:
//
//   - The writer. A caller encodes its request into the outgoing buffer
//     and queues its call; if nobody is writing and no batch awaits its
//     replies (see batchLocked), it becomes the writer and sends the
//     buffer in one write. Requests queued while a batch is out wait, and
//     the reader that reads the batch's last reply writes them all in one
//     write: under load a write carries many requests, with one caller
//     alone it carries its own.
//   - The reader. A caller whose request is out waits for its reply; if
//     nobody is reading, it becomes the reader and reads replies, in bulk
//     through the connection's buffer, handing each to the oldest queued
//     call, until its own has come. It then hands the role to the oldest
//     call still waiting (a goroutine switch only when there is one), or,
//     when only abandoned calls remain, to a drain goroutine.
//
// A caller alone on the connection thus writes its request and reads its
// reply itself, with no goroutine switch, as in plain mode.
//
// Replies are matched by position, so a late reply can only reach the call
// it belongs to. A frame that arrives when every request written so far has
// had its reply is a stray (a server fault) and fails the pipe: the reader
// knows, for each read from the socket, how many requests had been written
// before it returned, so a stray that arrives in the same read as the last
// awaited reply is caught even if more requests were written since; one
// that arrives on an idle connection is found by the look before the next
// request or by the health check. (A stray that arrives while replies are
// still awaited cannot be told from the next reply: the protocol has no
// request ids.) A caller whose deadline passes gets its timeout at once and
// leaves its call in the queue, abandoned: the reader discards its reply.
// The server is slow or stuck, so the pipe is retired (onRetire: it takes
// no new request and the pool replaces it), but the calls behind keep
// their chance: their replies are still read and delivered, and each fails
// only when its own deadline passes. When a deadline passes and no other
// caller waits on the connection, the pipe fails and the connection is
// closed. A caller whose context is canceled leaves its call the same way,
// and its deadline still counts as above should the reply never come.
type pipe struct {
	conn      *Conn
	wg        *sync.WaitGroup   // joins drain goroutines
	onFail    func(cause error) // called once, when the pipe fails
	onFree    func()            // called when an abandoned call leaves the queue
	onRetire  func()            // called once, when a deadline passes and the pipe lives on
	interrupt func()            // pokes the read deadline into the past, then signals poked
	poked     chan struct{}     // capacity 1
	poking    atomic.Bool       // set by interrupt before it pokes

	mu sync.Mutex
	// Guarded by mu.
	out     []byte      // encoded requests not yet taken by the writer
	spare   []byte      // the writer's previous buffer, reused for out
	queue   fifo[*call] // calls awaiting their reply, in request order
	unsent  int         // calls at the back of queue whose bytes are still in out
	batches fifo[int64] // writes whose last reply has not come: written after each
	writing bool        // a caller is writing out
	reading bool        // the reader role is held, or handed over and not yet taken
	err     error       // set once the pipe failed; later requests fail at once
	retired bool        // a deadline passed: the pipe takes no new request
	watch   *time.Timer // wakes waiting calls whose deadline passed (see watchLocked)
	watchAt time.Time   // when watch fires; zero when it is not set

	written atomic.Int64 // calls handed to a write, counted before the write
	// Owned by the reader role (with conn.br, conn.fr, conn.rbuf, conn.resp).
	answered int64     // replies read
	limit    int64     // written when the last read from the socket returned
	rdl      time.Time // the reader's deadline
	rdlSet   time.Time // the socket's read deadline, when rdlKnown
	rdlKnown bool
}

// pipeSource is what the reader's buffer reads from: the socket, noting
// after each read how many requests had been written, which bounds the
// replies that read can hold. It sets the socket's read deadline to the
// reader's before reading, when it differs: a reader whose reply is
// already in the buffer costs no system call for it.
type pipeSource struct{ p *pipe }

func (s pipeSource) Read(b []byte) (int, error) {
	p := s.p
	if !p.rdlKnown || !p.rdlSet.Equal(p.rdl) {
		_ = p.conn.nc.SetReadDeadline(p.rdl)
		p.rdlSet, p.rdlKnown = p.rdl, true
		if p.poking.Load() {
			// The interrupt poked before us: poke again.
			_ = p.conn.nc.SetReadDeadline(longAgo)
		}
	}
	n, err := p.conn.nc.Read(b)
	p.limit = p.written.Load()
	return n, err
}

// call is one request waiting for its reply. Calls are recycled: a call
// goes back to the pool once its caller has its outcome, or, when the caller
// abandoned it, once the reader or fail takes it off the queue.
type call struct {
	done  chan struct{} // capacity 1: a token, sent under pipe.mu, when signaled is set
	reply Reply
	err   error
	// Guarded by pipe.mu.
	popped    bool        // taken off the queue with its reply or error
	signaled  bool        // a token is in done (or about to be): the owner must take it
	lead      bool        // the token hands the reader role to the owner
	expired   bool        // the token says the deadline passed (from the pipe's watch)
	watched   bool        // the pipe's watch ends the owner's wait at its deadline
	reading   bool        // the owner holds the reader role: it gets no token
	abandoned bool        // the caller left; whoever pops the call recycles it
	watchdog  *time.Timer // abandoned before its deadline: expires it then
	deadline  time.Time   // the caller's
}

var calls = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// putCall recycles a call whose done channel is empty.
func putCall(c *call) {
	*c = call{done: c.done}
	calls.Put(c)
}

// signalLocked sends c its token.
func (c *call) signalLocked() {
	c.signaled = true
	c.done <- struct{}{}
}

// newPipe puts conn, which must be authenticated and idle, in pipelined
// mode. The pipe fails after an I/O or protocol error, a request's
// deadline passing, or the connection being closed: onFail is then called
// once with the cause. onFree is called once per abandoned call taken off
// the queue. Both are called without the pipe's lock, and may not call
// into the pipe. Drain goroutines join wg.
// onRetire is called, without the lock, once when a deadline passes
// while other callers still wait on the pipe: it then takes no new
// request (enqueue fails with errRetired) and fails once nothing is
// queued; the pool must replace it and close it after its last request.
func newPipe(conn *Conn, wg *sync.WaitGroup, onFail func(cause error), onFree, onRetire func()) *pipe {
	p := &pipe{conn: conn, wg: wg, onFail: onFail, onFree: onFree, onRetire: onRetire, poked: make(chan struct{}, 1)}
	p.interrupt = func() {
		p.poking.Store(true)
		_ = p.conn.nc.SetReadDeadline(longAgo)
		p.poked <- struct{}{}
	}
	_ = conn.nc.SetDeadline(time.Time{})
	conn.br.Reset(pipeSource{p}) // empty: auth checked that nothing followed its reply
	return p
}

// exec sends one command and waits for its reply, until deadline or ctx
// ends. abandoned reports that the caller's context was canceled and the
// call left in the queue: onFree will say when it is gone. An error
// wrapping errUnfit means nothing was sent and the pipe failed.
func (p *pipe) exec(ctx context.Context, deadline time.Time, command string, args []string) (res Reply, abandoned bool, err error) {
	if err := p.usable(ctx, command); err != nil {
		return Reply{}, false, err
	}
	c, write, err := p.enqueue(command, args, deadline)
	if err != nil {
		return Reply{}, false, err
	}
	if write {
		p.flush(deadline)
	}
	return p.await(ctx, c, deadline)
}

// usable is Conn.usable for a pipelined connection: one found closed
// (its pipe failing, or the connection killed under it) fails the pipe,
// which takes it out of the pool, and the request, unsent, with errUnfit.
func (p *pipe) usable(ctx context.Context, command string) error {
	err := p.conn.usable(ctx, command)
	if errors.Is(err, errAlreadyBroken) {
		p.fail(errAlreadyBroken)
		return unfit(p.conn.addr, errAlreadyBroken)
	}
	return err
}

// unfit is the error of a request not sent because its connection could
// not take it: the pool tries another connection.
func unfit(addr string, why error) error {
	return &ConnError{Op: "write", Addr: addr, Err: fmt.Errorf("%w: %w", errUnfit, why)}
}

// lockOpen locks p if it takes requests, and returns why not, unlocked,
// if it does not: failed, retired, or (when idle) holding a frame no
// request asked for, which fails it. On an idle connection it looks at the
// socket, as the plain pool does before lending a connection. Each error
// wraps errUnfit: nothing was sent.
func (p *pipe) lockOpen() error {
	p.mu.Lock()
	if err := p.err; err != nil {
		p.mu.Unlock()
		return unfit(p.conn.addr, errors.Unwrap(err))
	}
	if p.retired {
		p.mu.Unlock()
		return &ConnError{Op: "write", Addr: p.conn.addr, Err: errRetired}
	}
	if p.queue.len() == 0 && !p.writing && !p.reading {
		if why := p.conn.idleErr(); why != nil {
			p.mu.Unlock()
			p.fail(why)
			return unfit(p.conn.addr, why)
		}
	}
	return nil
}

// enqueue encodes the request behind those already waiting and queues its
// call. write reports that the caller must write: nobody else is. On an
// idle connection it first looks at the socket, as the plain pool does
// before lending a connection: it must hold nothing no request asked for.
func (p *pipe) enqueue(command string, args []string, deadline time.Time) (c *call, write bool, err error) {
	if err := p.lockOpen(); err != nil {
		return nil, false, err
	}
	out, err := wire.AppendCommand(p.out, command, args)
	if err != nil {
		p.mu.Unlock()
		return nil, false, fmt.Errorf("fleare: %s: request not sent: %w", command, err)
	}
	p.out = out
	c = calls.Get().(*call)
	c.deadline = deadline
	p.queue.push(c)
	p.unsent++
	if !p.writing && p.batchLocked() {
		p.writing, write = true, true
	}
	p.mu.Unlock()
	return c, write, nil
}

// flush writes the outgoing buffer, and again after each write while
// requests queued meanwhile and every reply awaited has come already (see
// batchLocked). A write blocked past deadline (the server stopped reading)
// fails the pipe.
func (p *pipe) flush(deadline time.Time) {
	p.mu.Lock()
	for first := true; p.err == nil && len(p.out) > 0 && (first || p.batchLocked()); first = false {
		buf := p.out
		p.out, p.spare = p.spare[:0], nil
		p.batches.push(p.written.Add(int64(p.unsent))) // before the write: a reply can come before Write returns
		p.unsent = 0
		p.mu.Unlock()
		_ = p.conn.nc.SetWriteDeadline(deadline)
		if _, err := p.conn.nc.Write(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !p.conn.closed.Load() {
				err = errPipeAborted
			}
			p.fail(err)
			p.mu.Lock()
			break
		}
		p.mu.Lock()
		if cap(buf) <= keepBufSize {
			p.spare = buf[:0]
		}
	}
	p.writing = false
	p.mu.Unlock()
}

// batchLocked reports whether the requests in out may be written now:
// when fewer than maxBatches writes await replies. Requests that come
// meanwhile wait in out and go out together, in one write, once the
// reader has the last reply of the batch before (and the server reads
// them in one read and answers them in one write): the batch grows with
// the load, as TCP's window does. A caller alone on the connection finds
// nothing in flight and writes at once.
func (p *pipe) batchLocked() bool { return p.batches.len() < maxBatches }

// maxBatches is how many writes may await their replies on a pipelined
// connection. Measured with the server in another process on 2 cores
// (BenchmarkPing), one batch at a time cost the least CPU per request on
// both sides at 16, 64 and 256 callers, and gave the most requests per
// second, against two or three.
const maxBatches = 1

// await waits for c's reply: it reads it itself when nobody is reading,
// and otherwise waits for the reader to hand it the reply, or the role.
func (p *pipe) await(ctx context.Context, c *call, deadline time.Time) (Reply, bool, error) {
	p.mu.Lock()
	if !c.popped && !c.signaled && !p.reading && p.err == nil {
		p.reading, c.reading = true, true
		write := p.owedWriteLocked()
		p.mu.Unlock()
		if write {
			p.flush(deadline)
		}
		return p.read(ctx, c, deadline)
	}
	if cd, ok := ctx.Deadline(); !ok || deadline.Before(cd) {
		c.watched = true
		p.watchLocked(deadline)
	}
	p.mu.Unlock()
	done := ctx.Done()
	if done == nil {
		<-c.done
		return p.woken(ctx, c, deadline)
	}
	select {
	case <-c.done:
		return p.woken(ctx, c, deadline)
	case <-done:
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return p.abandon(ctx, c, deadline)
		}
	}
	return p.timedOut(ctx, c, deadline)
}

// watchLocked makes the pipe's watch fire by deadline, for a call starting
// to wait. One timer serves every waiting call: callers of one client
// mostly share a timeout, so their deadlines come in queue order and the
// watch, set for the oldest, is rarely moved; it costs a waiting caller
// neither a timer of its own nor a clock read.
func (p *pipe) watchLocked(deadline time.Time) {
	if !p.watchAt.IsZero() && !deadline.Before(p.watchAt) {
		return
	}
	p.watchAt = deadline
	if p.watch == nil {
		p.watch = time.AfterFunc(time.Until(deadline), p.watchFired)
		return
	}
	p.watch.Reset(time.Until(deadline))
}

// quiet stops the watch when no call waits: the pool took the connection
// out, and a pending watch would keep the pipe and its connection in
// memory until the deadline of a request long answered.
func (p *pipe) quiet() {
	p.mu.Lock()
	if p.queue.len() == 0 && p.watch != nil {
		p.watch.Stop()
		p.watchAt = time.Time{}
	}
	p.mu.Unlock()
}

// watchFired wakes, with an expired token, every waiting watched call
// whose deadline has passed, and sets the watch for the next deadline.
func (p *pipe) watchFired() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watchAt = time.Time{}
	if p.err != nil {
		return
	}
	now := time.Now()
	var next time.Time
	for i := range p.queue.len() {
		c := p.queue.at(i)
		switch {
		case !c.watched || c.abandoned || c.reading || c.signaled || c.popped:
			// not waiting, or about to wake
		case !c.deadline.After(now):
			c.expired = true
			c.signalLocked()
		case next.IsZero() || c.deadline.Before(next):
			next = c.deadline
		}
	}
	if !next.IsZero() {
		p.watchLocked(next)
	}
}

// woken handles the token c received: its outcome, or the reader role.
func (p *pipe) woken(ctx context.Context, c *call, deadline time.Time) (Reply, bool, error) {
	p.mu.Lock()
	c.signaled = false
	if c.popped {
		p.mu.Unlock()
		res, err := p.result(c)
		return res, false, err
	}
	if c.expired && !c.lead {
		c.expired = false
		p.mu.Unlock()
		return p.timedOut(ctx, c, deadline)
	}
	c.lead, c.expired, c.reading = false, false, true // p.reading stayed set for us
	write := p.owedWriteLocked()
	p.mu.Unlock()
	if write {
		p.flush(deadline)
	}
	return p.read(ctx, c, deadline)
}

// owedWriteLocked takes the writer role, reporting true, when requests
// wait in out with nobody to write them: queued while a health check held
// the connection.
func (p *pipe) owedWriteLocked() bool {
	if p.writing || len(p.out) == 0 || !p.batchLocked() {
		return false
	}
	p.writing = true
	return true
}

// timedOut handles a waiting call whose deadline passed: the reply if it
// arrived first; else, when other callers wait on the pipe, it leaves the
// call abandoned (like a cancel) and retires the pipe; when nobody else
// does, it fails the pipe. abandoned reports the call left in the queue.
func (p *pipe) timedOut(ctx context.Context, c *call, deadline time.Time) (Reply, bool, error) {
	p.mu.Lock()
	if !c.popped && p.err == nil && p.othersWaitLocked(c) {
		held := p.dropTokenLocked(c)
		drain, retire := p.expireLocked(c, held)
		p.mu.Unlock()
		p.afterExpire(drain, retire)
		return Reply{}, true, &TimeoutError{Op: "read", Addr: p.conn.addr, Sent: true}
	}
	answered := c.popped
	p.mu.Unlock()
	if !answered {
		p.fail(errPipeAborted)
	}
	p.takeToken(c)
	if ce := (*ConnError)(nil); errors.As(c.err, &ce) && ce.Err == errPipeAborted {
		c.err = &TimeoutError{Op: "read", Addr: p.conn.addr, Sent: true}
	}
	res, err := p.result(c)
	return res, false, err
}

// queuedLocked reports whether c is still queued and abandoned.
func (p *pipe) queuedLocked(c *call) bool {
	for i := range p.queue.len() {
		if p.queue.at(i) == c {
			return c.abandoned
		}
	}
	return false
}

// othersWaitLocked reports whether a queued call other than c has a
// caller waiting for it.
func (p *pipe) othersWaitLocked(c *call) bool {
	for i := range p.queue.len() {
		if next := p.queue.at(i); next != c && !next.abandoned {
			return true
		}
	}
	return false
}

// expireLocked leaves c, whose deadline passed, abandoned, and retires the
// pipe. held says c holds the reader role, which passes on. drain reports
// that a drain goroutine must be started; retire that onRetire must be
// called.
func (p *pipe) expireLocked(c *call, held bool) (drain, retire bool) {
	c.abandoned, c.reading = true, false
	retire = !p.retired
	p.retired = true
	if held {
		drain = p.handOffLocked()
	}
	return drain, retire
}

// afterExpire does, without the lock, what expireLocked asked for.
func (p *pipe) afterExpire(drain, retire bool) {
	if retire && p.onRetire != nil {
		p.onRetire()
	}
	if drain {
		p.wg.Go(p.drain)
	}
}

// expired runs when an abandoned call's deadline passes (its watchdog):
// the pipe is retired if other callers wait on it, and fails otherwise.
func (p *pipe) expired(c *call) {
	p.mu.Lock()
	if p.err != nil || !p.queuedLocked(c) {
		p.mu.Unlock()
		return // its reply came, or the pipe failed
	}
	if !p.othersWaitLocked(c) {
		p.mu.Unlock()
		p.fail(errPipeAborted)
		return
	}
	retire := !p.retired
	p.retired = true
	p.mu.Unlock()
	p.afterExpire(false, retire)
}

// dropTokenLocked receives the token of c, not popped, if one was sent
// (the reader role, or its deadline passing), and reports whether it
// handed c the reader role.
func (p *pipe) dropTokenLocked(c *call) (held bool) {
	held = c.lead
	if c.signaled {
		<-c.done // sent under mu, so here now
		c.lead, c.expired, c.signaled = false, false, false
	}
	return held
}

// takeToken receives c's token if one was sent.
func (p *pipe) takeToken(c *call) {
	p.mu.Lock()
	s := c.signaled
	c.signaled = false
	p.mu.Unlock()
	if s {
		<-c.done
	}
}

// abandon leaves a call whose context was canceled: its reply, when it
// comes, is discarded, and its deadline still applies. A reply that
// already arrived is returned instead. A call that was being handed the
// reader role passes it on.
func (p *pipe) abandon(ctx context.Context, c *call, deadline time.Time) (Reply, bool, error) {
	p.mu.Lock()
	if c.popped {
		p.mu.Unlock()
		p.takeToken(c)
		res, err := p.result(c)
		return res, false, err
	}
	held := p.dropTokenLocked(c)
	drain := p.leaveLocked(c, deadline, held)
	p.mu.Unlock()
	if drain {
		p.wg.Go(p.drain)
	}
	return Reply{}, true, canceled("read", p.conn.addr, true, ctx.Err())
}

// leaveLocked marks c abandoned, with a watchdog that fails the pipe at
// its deadline, and hands the reader role on if c held it. drain reports
// that a drain goroutine must be started.
func (p *pipe) leaveLocked(c *call, deadline time.Time, held bool) (drain bool) {
	c.abandoned, c.reading = true, false
	c.watchdog = time.AfterFunc(time.Until(deadline), func() { p.expired(c) })
	if held {
		return p.handOffLocked()
	}
	return false
}

// result takes the outcome of a finished call and recycles it.
func (p *pipe) result(c *call) (Reply, error) {
	res, err := c.reply, c.err
	putCall(c)
	return res, err
}

// read holds the reader role for c (nil for a drain goroutine): it reads
// replies and hands them out until c has its own, then hands the role on.
// The socket's read deadline is c's; ctx cancellation interrupts the read,
// leaving c abandoned and the bytes read so far kept for the next reader.
func (p *pipe) read(ctx context.Context, c *call, deadline time.Time) (Reply, bool, error) {
	p.rdl = deadline
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, p.interrupt)
	}
	err := p.readUntil(c, deadline)
	if stop != nil && !stop() {
		<-p.poked // the interrupt ran or is running: it must not hit the next reader
		p.poking.Store(false)
		p.rdlKnown = false
	}
	if err == nil {
		err = p.passRole(c)
	}
	ownTimeout := false
	if err != nil {
		if !p.conn.closed.Load() && errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(ctx.Err(), context.Canceled) {
			// The reader's own deadline passed (a drain's: the last of
			// the abandoned calls'): the pipe lives on for the others.
			p.mu.Lock()
			if (c == nil || !c.popped) && p.err == nil && p.othersWaitLocked(c) {
				var drain, retire bool
				if c != nil {
					drain, retire = p.expireLocked(c, true)
				} else {
					retire = !p.retired
					p.retired = true
					drain = p.handOffLocked()
				}
				p.mu.Unlock()
				p.afterExpire(drain, retire)
				if c == nil {
					return Reply{}, false, nil
				}
				return Reply{}, true, &TimeoutError{Op: "read", Addr: p.conn.addr, Sent: true}
			}
			p.mu.Unlock()
		}
		if c != nil && !p.conn.closed.Load() && errors.Is(err, os.ErrDeadlineExceeded) && errors.Is(ctx.Err(), context.Canceled) {
			p.mu.Lock()
			if !c.popped && p.err == nil {
				drain := p.leaveLocked(c, deadline, true)
				p.mu.Unlock()
				if drain {
					p.wg.Go(p.drain)
				}
				return Reply{}, true, canceled("read", p.conn.addr, true, ctx.Err())
			}
			p.mu.Unlock()
		} else {
			if errors.Is(err, os.ErrDeadlineExceeded) && !p.conn.closed.Load() {
				err, ownTimeout = errPipeAborted, true
			}
			p.fail(err)
		}
	}
	if c == nil {
		return Reply{}, false, nil
	}
	if ownTimeout {
		if ce := (*ConnError)(nil); errors.As(c.err, &ce) && ce.Err == errPipeAborted {
			c.err = &TimeoutError{Op: "read", Addr: p.conn.addr, Sent: true}
		}
	}
	res, err := p.result(c)
	return res, false, err
}

// passRole hands the reader role on once the reader's work is over, and
// reports bytes read beyond the last awaited reply.
func (p *pipe) passRole(c *call) error {
	p.mu.Lock()
	if c != nil {
		c.reading = false
	}
	drain := p.handOffLocked()
	err := p.strayLocked()
	p.mu.Unlock()
	if drain {
		p.wg.Go(p.drain)
	}
	return err
}

// readUntil reads replies and delivers them until c is popped (for a drain
// goroutine, c nil: until the oldest call is one somebody waits for, or
// none is left). It keeps the reader role: the caller hands it on, or
// fails the pipe or leaves on an error.
func (p *pipe) readUntil(c *call, deadline time.Time) error {
	conn := p.conn
	for {
		body, err := conn.fr.read(conn.br, conn.rbuf)
		if err != nil {
			return err
		}
		conn.rbuf = body[:0]
		if cap(conn.rbuf) > keepBufSize {
			conn.rbuf = nil
		}
		if err := wire.DecodeResponse(body, &conn.resp); err != nil {
			return fmt.Errorf("invalid response: %w", err)
		}
		if conn.resp.GetTopic() != "" {
			return errUnexpectedPush
		}
		done, freed, write, err := p.deliver(c)
		if freed != nil {
			p.release(freed)
		}
		if write {
			p.flush(deadline)
		}
		if err != nil || done {
			return err
		}
	}
}

// deliver completes the oldest call with conn.resp, or reports a stray if
// no written request awaits a reply that could be in the bytes read so far.
// done reports that the reader's work is over: c has its reply, or, for a
// drain goroutine, nobody needs it. freed is an abandoned call taken off
// the queue, for release outside the lock. write reports that the reader
// must write the next batch: this was the last reply awaited.
func (p *pipe) deliver(c *call) (done bool, freed *call, write bool, err error) {
	if p.answered >= p.limit {
		return false, nil, false, errStray
	}
	p.answered++
	resp := &p.conn.resp
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return false, nil, false, p.err
	}
	head, _ := p.queue.pop() // answered < limit <= written: a written call is queued
	head.popped = true
	if end, _ := p.batches.peek(); end == p.answered {
		p.batches.pop()
	}
	if head.abandoned {
		freed = head
	} else {
		head.reply = Reply{Status: resp.Status, Result: resp.Result, ClientID: resp.ClientId}
		resp.Result = nil
		if !head.reading && !head.signaled {
			head.signalLocked()
		}
	}
	if !p.writing && len(p.out) > 0 && p.batchLocked() {
		p.writing, write = true, true
	}
	if c != nil {
		return c.popped, freed, write, nil
	}
	next, ok := p.queue.peek()
	return !ok || !next.abandoned, freed, write, nil
}

// handOffLocked passes the reader role to the oldest call somebody waits
// for (one the watch has woken already takes it with that token). With
// only abandoned calls queued it keeps the role for a drain goroutine
// (drain is true: the caller starts one); with none, the role is free.
func (p *pipe) handOffLocked() (drain bool) {
	if p.err != nil {
		return false
	}
	for i := range p.queue.len() {
		if next := p.queue.at(i); !next.abandoned {
			next.lead = true
			if !next.signaled { // else its token (the watch's) wakes it to the role
				next.signalLocked()
			}
			return false
		}
	}
	if p.queue.len() > 0 {
		return true
	}
	p.reading = false
	return false
}

// strayLocked reports bytes read beyond the last awaited reply: with no
// call queued, nobody asked for them.
func (p *pipe) strayLocked() error {
	if p.queue.len() == 0 && p.conn.br.Buffered() > 0 {
		return errStray
	}
	return nil
}

// drain holds the reader role while only abandoned calls are queued,
// reading and discarding their replies, until the latest of their
// deadlines: the pipe fails should a reply not come by then.
func (p *pipe) drain() {
	p.mu.Lock()
	write := p.owedWriteLocked()
	var deadline time.Time // the latest of the queued calls', zero if one has none
	for i := range p.queue.len() {
		d := p.queue.at(i).deadline
		if d.IsZero() {
			deadline = d
			break
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	p.mu.Unlock()
	if write {
		p.flush(deadline)
	}
	_, _, _ = p.read(context.Background(), nil, deadline)
}

// release recycles an abandoned call taken off the queue.
func (p *pipe) release(c *call) {
	if c.watchdog != nil {
		c.watchdog.Stop()
	}
	putCall(c)
	if p.onFree != nil {
		p.onFree()
	}
}

// hold takes the reader and writer roles of an idle connection for a
// health check, reporting false (and taking nothing) when the connection
// is in use or failed. Requests may be queued meanwhile, not written (a
// reply could look like a stray); their callers wait for the reader role,
// which unhold hands on, and the caller taking it writes them.
func (p *pipe) hold() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || p.queue.len() > 0 || p.writing || p.reading {
		return false
	}
	p.reading, p.writing = true, true
	return true
}

// unhold gives back the role hold took, and fails the pipe if the check
// found why.
func (p *pipe) unhold(why error) {
	p.mu.Lock()
	p.writing = false
	drain := p.handOffLocked()
	p.mu.Unlock()
	if why != nil {
		p.fail(why)
		return
	}
	if drain {
		p.wg.Go(p.drain)
	}
}

// fail marks the pipe failed with cause, closes the connection (which
// interrupts the reader and the writer), and fails every queued call.
// Calls whose bytes were never written fail as not sent, with errUnfit,
// so that the pool sends them on another connection (a call queued while
// a health check held the connection, say), unless the cause is a
// deadline passing. Only the first cause counts.
func (p *pipe) fail(cause error) {
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return
	}
	p.err = &ConnError{Op: "write", Addr: p.conn.addr, Err: cause}
	if p.watch != nil {
		p.watch.Stop()
	}
	pending := p.queue.drain()
	unsent := p.unsent
	p.unsent, p.out = 0, nil
	var abandoned []*call
	for i, c := range pending {
		c.popped = true
		if c.abandoned {
			abandoned = append(abandoned, c)
			continue
		}
		if sent := i < len(pending)-unsent; sent || errors.Is(cause, errPipeAborted) {
			c.err = &ConnError{Op: "read", Addr: p.conn.addr, Sent: sent, Err: cause}
		} else {
			c.err = unfit(p.conn.addr, cause)
		}
		if !c.reading && !c.signaled {
			c.signalLocked()
		}
	}
	p.mu.Unlock()
	p.conn.kill()
	if p.onFail != nil {
		p.onFail(cause)
	}
	for _, c := range abandoned {
		p.release(c)
	}
}
