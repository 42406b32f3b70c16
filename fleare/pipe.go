package fleare

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

var errPipeAborted = errors.New("connection closed: a request pipelined on it timed out")

// pipe runs a Conn in pipelined mode: several callers' requests share the
// connection. Requests are encoded into an outgoing buffer in the order
// callers arrive and queued in that order; a writer goroutine sends the
// buffer, batching whatever accumulated while it was writing; a reader
// goroutine reads replies, which the server sends in request order, and
// hands each to the oldest queued call.
//
// Replies are matched by position, so a late reply can only reach the call
// it belongs to. A frame that arrives when every request written so far has
// had its reply is a stray (a server fault) and fails the pipe: the reader
// knows, for each read from the socket, how many requests had been written
// before it returned, so a stray that arrives in the same read as the last
// awaited reply is caught even if more requests were written since. (A
// stray that arrives while replies are still awaited cannot be told from
// the next reply: the protocol has no request ids.) A caller whose deadline passes closes the connection: the
// server is too slow or stuck, and every call queued on the connection
// fails. A caller whose context is canceled leaves its call in the queue,
// abandoned: the reader discards its reply, and its deadline still closes
// the connection should the reply never come.
type pipe struct {
	conn   *Conn
	wake   chan struct{}     // capacity 1: pokes the writer
	onFail func(cause error) // called once, when the pipe fails
	onFree func()            // called when an abandoned call leaves the queue

	mu sync.Mutex
	// Guarded by mu.
	out    []byte      // encoded requests not yet taken by the writer
	spare  []byte      // the writer's previous buffer, reused for out
	queue  fifo[*call] // calls awaiting their reply, in request order
	unsent int         // calls at the back of queue whose bytes are still in out
	err    error       // set once the pipe failed; later requests fail at once
	cmd    wire.Command

	written atomic.Int64 // calls handed to the writer, counted before the write
	// Owned by the reader goroutine.
	answered int64 // replies read
	limit    int64 // written when the last read from the socket returned
}

// pipeSource is what the reader's buffer reads from: the socket, noting
// after each read how many requests had been written, which bounds the
// replies that read can hold.
type pipeSource struct{ p *pipe }

func (s pipeSource) Read(b []byte) (int, error) {
	n, err := s.p.conn.nc.Read(b)
	s.p.limit = s.p.written.Load()
	return n, err
}

// call is one request waiting for its reply. Calls are recycled: a call
// goes back to the pool once its caller has its outcome, or, when the caller
// abandoned it, once the reader or fail takes it off the queue.
type call struct {
	command string
	done    chan struct{} // capacity 1: receives one token once reply and err are set
	reply   Reply
	err     error
	// Guarded by pipe.mu.
	popped    bool        // taken off the queue by the reader or by fail
	abandoned bool        // the caller left; whoever pops the call recycles it
	watchdog  *time.Timer // abandoned: fails the pipe at the call's deadline
}

var calls = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func getCall(command string) *call {
	c := calls.Get().(*call)
	c.command = command
	return c
}

// putCall recycles a call whose done channel is empty.
func putCall(c *call) {
	*c = call{done: c.done}
	calls.Put(c)
}

// newPipe starts the writer and reader goroutines of conn, which must be
// authenticated and idle, on wg. They return once the pipe has failed:
// after an I/O or protocol error, a request's deadline passing, or the
// connection being closed. onFail is then called once with the cause, and
// onFree once per abandoned call taken off the queue, from the goroutine
// that did it; neither may call into the pipe.
func newPipe(conn *Conn, wg *sync.WaitGroup, onFail func(cause error), onFree func()) *pipe {
	p := &pipe{conn: conn, wake: make(chan struct{}, 1), onFail: onFail, onFree: onFree}
	_ = conn.nc.SetDeadline(time.Time{})
	conn.br.Reset(pipeSource{p}) // empty: auth checked that nothing followed its reply
	wg.Go(p.writeLoop)
	wg.Go(p.readLoop)
	return p
}

// exec sends one command and waits for its reply, until deadline or ctx
// ends. abandoned reports that the caller's context was canceled and the
// call left in the queue: onFree will say when it is gone.
func (p *pipe) exec(ctx context.Context, deadline time.Time, command string, args []string) (res Reply, abandoned bool, err error) {
	if err := p.conn.usable(ctx, command); err != nil {
		return Reply{}, false, err
	}
	c, err := p.enqueue(command, args)
	if err != nil {
		return Reply{}, false, err
	}
	timer := timers.Get().(*time.Timer)
	timer.Reset(time.Until(deadline))
	defer func() { timer.Stop(); timers.Put(timer) }()
	select {
	case <-c.done:
		res, err = p.result(c)
		return res, false, err
	case <-timer.C:
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return p.abandon(ctx, c, deadline)
		}
	}
	res, err = p.timedOut(c)
	return res, false, err
}

// enqueue encodes the request behind those already waiting and queues its
// call.
func (p *pipe) enqueue(command string, args []string) (*call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	p.cmd.Command, p.cmd.Args = command, args
	out, err := wire.AppendFrame(p.out, &p.cmd)
	p.cmd.Command, p.cmd.Args = "", nil // keep no reference to the caller's data
	if err != nil {
		return nil, fmt.Errorf("fleare: %s: request not sent: %w", command, err)
	}
	first := len(p.out) == 0
	p.out = out
	c := getCall(command)
	p.queue.push(c)
	p.unsent++
	if first {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return c, nil
}

// timedOut closes the connection under a call whose deadline passed, and
// returns the call's outcome: a timeout, or the reply if it arrived first.
func (p *pipe) timedOut(c *call) (Reply, error) {
	p.fail(errPipeAborted)
	<-c.done
	if ce := (*ConnError)(nil); errors.As(c.err, &ce) && ce.Err == errPipeAborted {
		c.err = &TimeoutError{Op: "read", Addr: p.conn.addr, Sent: true}
	}
	return p.result(c)
}

// abandon leaves a call whose context was canceled: its reply, when it
// comes, is discarded, and its deadline still applies. A reply that
// already arrived is returned instead.
func (p *pipe) abandon(ctx context.Context, c *call, deadline time.Time) (Reply, bool, error) {
	p.mu.Lock()
	if !c.popped {
		c.abandoned = true
		c.watchdog = time.AfterFunc(time.Until(deadline), func() { p.fail(errPipeAborted) })
		p.mu.Unlock()
		return Reply{}, true, canceled("read", p.conn.addr, true, ctx.Err())
	}
	p.mu.Unlock()
	<-c.done
	res, err := p.result(c)
	return res, false, err
}

// result takes the outcome of a finished call and recycles it.
func (p *pipe) result(c *call) (Reply, error) {
	res, err := c.reply, c.err
	putCall(c)
	return res, err
}

// writeLoop sends the outgoing buffer whenever it holds requests.
func (p *pipe) writeLoop() {
	for range p.wake {
		p.mu.Lock()
		if p.err != nil {
			p.mu.Unlock()
			return
		}
		buf := p.out
		p.out, p.spare = p.spare[:0], nil
		p.written.Add(int64(p.unsent)) // before the write: a reply can come before Write returns
		p.unsent = 0
		p.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		if _, err := p.conn.nc.Write(buf); err != nil {
			p.fail(err)
			return
		}
		if cap(buf) <= keepBufSize {
			p.mu.Lock()
			p.spare = buf[:0]
			p.mu.Unlock()
		}
	}
}

// readLoop hands each reply to the oldest queued call.
func (p *pipe) readLoop() {
	var (
		buf  []byte
		resp wire.Response
	)
	for {
		body, err := wire.ReadFrame(p.conn.br, buf)
		if err != nil {
			p.fail(err)
			return
		}
		resp.Reset()
		if err := proto.Unmarshal(body, &resp); err != nil {
			p.fail(fmt.Errorf("invalid response: %w", err))
			return
		}
		if resp.GetTopic() != "" {
			p.fail(errUnexpectedPush)
			return
		}
		if !p.deliver(&resp) {
			return
		}
		if buf = body[:0]; cap(buf) > keepBufSize {
			buf = nil
		}
	}
}

// deliver completes the oldest call with resp, or fails the pipe if no
// written request awaits a reply that could be in the bytes read so far.
func (p *pipe) deliver(resp *wire.Response) bool {
	if p.answered >= p.limit {
		p.fail(errStray)
		return false
	}
	p.answered++
	p.mu.Lock()
	c, _ := p.queue.pop() // answered < limit <= written: a written call is queued
	c.popped = true
	abandoned := c.abandoned
	p.mu.Unlock()
	if abandoned {
		p.release(c)
		return true
	}
	c.reply = Reply{Status: resp.Status, Result: resp.Result, ClientID: resp.ClientId}
	resp.Result = nil
	c.done <- struct{}{}
	return true
}

// release recycles an abandoned call taken off the queue.
func (p *pipe) release(c *call) {
	c.watchdog.Stop()
	putCall(c)
	if p.onFree != nil {
		p.onFree()
	}
}

// fail marks the pipe failed with cause, closes the connection (which stops
// both goroutines), and fails every queued call. Calls whose bytes were
// never handed to the writer fail as not sent. Only the first cause counts.
func (p *pipe) fail(cause error) {
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return
	}
	p.err = &ConnError{Op: "write", Addr: p.conn.addr, Err: cause}
	pending := p.queue.drain()
	unsent := p.unsent
	p.unsent, p.out = 0, nil
	var abandoned []*call
	for _, c := range pending {
		c.popped = true
		if c.abandoned {
			abandoned = append(abandoned, c)
		}
	}
	p.mu.Unlock()
	p.conn.kill()
	close(p.wake) // no send can follow: enqueue sends only while err is nil
	for i, c := range pending {
		if !c.abandoned { // stable: popped under mu
			c.err = &ConnError{Op: "read", Addr: p.conn.addr, Sent: i < len(pending)-unsent, Err: cause}
			c.done <- struct{}{}
		}
	}
	if p.onFail != nil {
		p.onFail(cause)
	}
	for _, c := range abandoned {
		p.release(c)
	}
}
