package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/internal/wire"
)

const (
	// readBufSize is each client's read buffer.
	readBufSize = 4 << 10
	// keepBufSize is the largest frame or reply buffer a session keeps
	// between uses; a bigger one is dropped after use.
	keepBufSize = 64 << 10
)

var errDraining = errors.New("proxy: draining")

// session is one client connection: a reader (the goroutine running run)
// that logs the client in, reads its requests and hands each to a worker
// goroutine calling the backend; a writer goroutine that writes the replies
// in request order; and, once the client subscribes, the goroutines of its
// pub/sub connection (see pubsub). Ordering comes from queue: every request
// is queued, in the order read, with a call that its worker completes; the
// writer takes calls in queue order and waits for each. slots bounds the
// calls queued and not yet written (MaxPipeline).
//
// A request that arrives alone, while the writer has nothing left to
// write, skips both hand-offs: the reader calls the backend and writes the
// reply itself (see inline). That is the common case of a client that
// waits for each reply before it sends the next request.
type session struct {
	p       *Proxy
	nc      net.Conn
	br      *bufio.Reader
	cfg     *settings // the options in force at accept
	remote  string
	id      string // the client id given to the client
	created time.Time
	cancel  context.CancelFunc // ends the session's backend calls: forced close only

	slots    chan struct{} // a token per call queued and not yet written
	queue    chan *call    // calls in request order
	pending  atomic.Int64  // calls queued whose reply the writer has not yet written out
	room     chan struct{} // capacity 1: buffered fell to ClientBuffer or below
	buffered atomic.Int64  // bytes of requests in flight and of replies not yet written

	broken    chan struct{} // closed when the connection failed or was killed
	breakOnce sync.Once
	drainCh   chan struct{} // closed by drain
	drainOnce sync.Once
	draining  atomic.Bool // set by drain before it pokes the read deadline
	authed    atomic.Bool
	killed    atomic.Bool

	ps atomic.Pointer[pubsub] // set once the client subscribes
	wg sync.WaitGroup         // writer, workers and pub/sub goroutines

	// Owned by the reader.
	user      string
	deadline  bool             // a read deadline is set
	rbuf      []byte           // the last request frame
	running   []*call          // dispatched to the backend, possibly not complete
	batch     []batchItem      // read-only requests gathered, their calls queued, not yet sent
	batchReqs []fleare.Request // the requests of batch
	ibuf      []byte           // the reply of a request answered inline
	iresp     wire.Response

	// Owned by the writer.
	wbuf   []byte
	wbytes int64 // reply bytes in wbuf, counted in buffered
	wcalls int64 // calls in wbuf, counted in pending
	resp   wire.Response
}

func newSession(p *Proxy, nc net.Conn, cfg *settings) (*session, context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	remote := nc.RemoteAddr().String()
	return &session{
		p:       p,
		nc:      nc,
		br:      bufio.NewReaderSize(nc, readBufSize),
		cfg:     cfg,
		remote:  remote,
		id:      fmt.Sprintf("%d-%s", p.nextID.Add(1), remote),
		created: time.Now().UTC(),
		cancel:  cancel,
		slots:   make(chan struct{}, cfg.MaxPipeline),
		queue:   make(chan *call, cfg.MaxPipeline),
		room:    make(chan struct{}, 1),
		broken:  make(chan struct{}),
		drainCh: make(chan struct{}),
	}, ctx
}

// run serves the client until it leaves, is dropped or drained, then waits
// for every goroutine of the session and closes the connection.
func (s *session) run(ctx context.Context) {
	defer s.p.forget(s)
	defer s.cancel()
	defer s.nc.Close()
	if !s.authenticate() {
		return
	}
	s.authed.Store(true)
	s.wg.Go(s.writeLoop)
	s.readLoop(ctx)
	if ps := s.ps.Load(); ps != nil {
		ps.stop()
	}
	end := &call{done: closedChan, end: true}
	s.enqueue(end, ctx.Done()) // the writer writes what precedes it, then returns
	s.wg.Wait()
}

// readLoop reads and dispatches requests until the client leaves, a limit
// drops it, or a drain stops it.
func (s *session) readLoop(ctx context.Context) {
	defer func() {
		if len(s.batch) > 0 {
			s.sendBatch(ctx) // its calls are queued: each must complete
		}
	}()
	for !s.draining.Load() {
		if s.batchDue() && !s.sendBatch(ctx) {
			return
		}
		if !s.waitRoom(ctx) {
			return
		}
		body, err := s.readFrame()
		if err != nil {
			s.readFailed(err)
			return
		}
		s.p.counters.requests.Add(1)
		if !s.handle(ctx, body) {
			return
		}
	}
}

// readFrame reads one request frame. Between frames the client may stay
// idle as long as it likes; once a frame has begun, it must arrive whole
// within ReadTimeout (unless it is already buffered).
func (s *session) readFrame() ([]byte, error) {
	if s.deadline {
		if !s.setReadDeadline(time.Time{}) {
			return nil, errDraining
		}
		s.deadline = false
	}
	if _, err := s.br.Peek(1); err != nil {
		return nil, err
	}
	if !s.frameBuffered() {
		if !s.setReadDeadline(time.Now().Add(s.cfg.ReadTimeout)) {
			return nil, errDraining
		}
		s.deadline = true
	}
	body, err := wire.ReadFrame(s.br, s.rbuf)
	s.rbuf = body[:0]
	if cap(s.rbuf) > keepBufSize {
		s.rbuf = nil
	}
	return body, err
}

// frameBuffered reports whether the next frame can be read (or refused)
// without waiting for the network.
func (s *session) frameBuffered() bool {
	n := s.br.Buffered()
	if n < wire.HeaderLen {
		return false
	}
	hdr, _ := s.br.Peek(wire.HeaderLen)
	l := binary.BigEndian.Uint32(hdr)
	return l == 0 || l > wire.MaxFrameLen || uint64(n-wire.HeaderLen) >= uint64(l)
}

// setReadDeadline sets the read deadline and reports false when a drain
// has begun: drain sets its flag before it pokes the deadline, so either
// the poke comes after this deadline or the flag is seen here.
func (s *session) setReadDeadline(t time.Time) bool {
	_ = s.nc.SetReadDeadline(t)
	return !s.draining.Load()
}

// readFailed counts why reading stopped. A frame of invalid length closes
// the connection without an answer, as on the real server.
func (s *session) readFailed(err error) {
	var fe *wire.FrameError
	switch {
	case errors.As(err, &fe):
		s.p.counters.badFrames.Add(1)
		s.p.emit(EventClientDropped, s.remote, s.user, fmt.Sprintf("frame of invalid length %d", fe.Len))
	case isTimeout(err) && !s.draining.Load():
		s.p.counters.readTimeouts.Add(1)
		s.p.emit(EventClientDropped, s.remote, s.user, fmt.Sprintf("a request frame took longer than %v to arrive", s.cfg.ReadTimeout))
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// waitRoom waits while the client's requests in flight and unwritten
// replies exceed ClientBuffer.
func (s *session) waitRoom(ctx context.Context) bool {
	for s.buffered.Load() > int64(s.cfg.ClientBuffer) {
		select {
		case <-s.room:
		case <-s.broken:
			return false
		case <-s.drainCh:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// handle answers or dispatches one request; false ends the session.
func (s *session) handle(ctx context.Context, body []byte) bool {
	name, args, err := wire.DecodeCommand(body)
	if err == nil && name != "" && s.batchable(name) {
		if _, refused := refusal(name, args); !refused && !s.alone() {
			var post func(fleare.Reply) fleare.Reply
			if strings.EqualFold(name, "SESSION") {
				post = s.sessionReply
			}
			return s.gather(ctx, name, args, len(body), post)
		}
	}
	if len(s.batch) > 0 && !s.sendBatch(ctx) { // what comes after a batch waits for it to be sent
		return false
	}
	if err != nil {
		return s.answerLocal(ctx, invalidFormat(err))
	}
	if name == "" {
		return s.answerLocal(ctx, fmt.Sprintf(msgUnknownCommand, name))
	}
	if msg, refused := refusal(name, args); refused {
		return s.answerLocal(ctx, msg)
	}
	var post func(fleare.Reply) fleare.Reply
	switch {
	case strings.EqualFold(name, "SUBSCRIBE"):
		return s.settle(ctx) && s.subscribe(ctx, args)
	case strings.EqualFold(name, "UNSUBSCRIBE"):
		return s.settle(ctx) && s.unsubscribe(ctx, args)
	case strings.EqualFold(name, "SESSION"):
		post = s.sessionReply
	}
	if s.alone() {
		return s.inline(ctx, name, args, post)
	}
	return s.dispatch(ctx, name, args, len(body), post)
}

// alone reports whether the request just read can be answered inline: the
// writer has written every reply queued before it (so every request before
// it has completed), no push can be queued meanwhile (the client never
// subscribed), and no further request has arrived yet to be run beside
// it.
func (s *session) alone() bool {
	if s.pending.Load() != 0 || s.ps.Load() != nil || s.br.Buffered() != 0 {
		return false
	}
	clear(s.running) // all complete: their replies were written
	s.running = s.running[:0]
	return true
}

// inline sends a request to the backend from the reader and writes its
// reply at once: the writer is idle, and stays so until the reader queues
// something. The request and its reply are not counted in buffered: the
// reader reads nothing else meanwhile.
func (s *session) inline(ctx context.Context, name string, args []string, post func(fleare.Reply) fleare.Reply) bool {
	sem, ok := s.p.acquire(s.broken, ctx.Done())
	if !ok {
		return false
	}
	r := s.exec(ctx, name, args, post)
	sem.release()
	s.iresp.ClientId, s.iresp.Status, s.iresp.Result = replyClientID(s, r), r.Status, r.Result
	s.ibuf = s.appendReply(s.ibuf[:0], &s.iresp)
	ok = s.writeOut(s.ibuf)
	if cap(s.ibuf) > keepBufSize {
		s.ibuf = nil
	}
	return ok
}

// exec sends one request to the backend and returns the reply the client
// gets: the server's, rewritten by post when set, or the proxy's "Error"
// when the request failed.
func (s *session) exec(ctx context.Context, name string, args []string, post func(fleare.Reply) fleare.Reply) fleare.Reply {
	r, err := s.p.backend.Exec(ctx, name, args...)
	return s.outcome(r, err, post)
}

// outcome is the reply the client gets for a request whose backend call
// returned r and err.
func (s *session) outcome(r fleare.Reply, err error, post func(fleare.Reply) fleare.Reply) fleare.Reply {
	switch {
	case err != nil:
		s.p.counters.errors.Add(1)
		s.p.counters.backendErrors.Add(1)
		return fleare.Reply{Status: "Error", Result: []byte(backendFailure(err)), ClientID: s.id}
	case post != nil:
		return post(r)
	}
	return r
}

// answerLocal queues an "Error" reply made by the proxy.
func (s *session) answerLocal(ctx context.Context, msg string) bool {
	s.p.counters.errors.Add(1)
	c := &call{done: closedChan}
	c.set(s, fleare.Reply{Status: "Error", Result: []byte(msg), ClientID: s.id})
	return s.enqueue(c, ctx.Done())
}

// dispatch queues a call and sends its request to the backend from a
// worker goroutine; post, when set, rewrites the server's reply.
//
// A client's requests run in the order it sent them, as on one connection
// to the server: a request that may change something waits for the
// client's requests before it to complete, and the ones after it wait for
// it; consecutive read-only requests run at the same time.
func (s *session) dispatch(ctx context.Context, name string, args []string, size int, post func(fleare.Reply) fleare.Reply) bool {
	exclusive := !readOnly(name)
	if exclusive && !s.settle(ctx) {
		return false
	}
	c := &call{done: make(chan struct{})}
	if !s.enqueue(c, ctx.Done()) {
		return false
	}
	sem, ok := s.p.acquire(s.broken, ctx.Done())
	if !ok {
		c.set(s, fleare.Reply{Status: "Error", Result: []byte("ProxyError: connection closing\n"), ClientID: s.id})
		close(c.done)
		return false
	}
	s.running = append(s.pruneRunning(), c)
	s.buffered.Add(int64(size))
	s.wg.Add(1) // done by the task
	s.p.runTask(task{s: s, ctx: ctx, c: c, name: name, args: args, post: post, sem: sem, size: size})
	return !exclusive || s.settle(ctx)
}

// settle waits until the client's requests dispatched so far have
// completed.
func (s *session) settle(ctx context.Context) bool {
	for _, c := range s.running {
		select {
		case <-c.done:
		case <-s.broken:
			return false
		case <-ctx.Done():
			return false
		}
	}
	clear(s.running)
	s.running = s.running[:0]
	return true
}

// unbuffer takes n bytes off the client's buffered total, and wakes the
// reader if that made room.
func (s *session) unbuffer(n int64) {
	if s.buffered.Add(-n) <= int64(s.cfg.ClientBuffer) {
		select {
		case s.room <- struct{}{}:
		default:
		}
	}
}

// pruneRunning drops the completed calls at the front of running. Calls
// mostly complete in order, and those behind one that has not are few:
// the client is not read past MaxPipeline calls unwritten.
func (s *session) pruneRunning() []*call {
	n := 0
	for n < len(s.running) && isDone(s.running[n]) {
		n++
	}
	return slices.Delete(s.running, 0, n)
}

func isDone(c *call) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// enqueue queues c behind the calls before it once a slot is free. It
// gives up when the connection breaks or stop is closed.
func (s *session) enqueue(c *call, stop <-chan struct{}) bool {
	select {
	case s.slots <- struct{}{}:
	case <-s.broken:
		return false
	case <-stop:
		return false
	}
	s.pending.Add(1)
	s.queue <- c // never blocks: queue has as much room as slots
	return true
}

// drain stops the session gracefully: a client not logged in is closed at
// once; a logged-in one stops being read, and is closed once the replies to
// its requests in flight are written.
func (s *session) drain() {
	s.drainOnce.Do(func() {
		s.draining.Store(true)
		close(s.drainCh)
		_ = s.nc.SetReadDeadline(aLongTimeAgo)
	})
}

var aLongTimeAgo = time.Unix(1, 0)

// kill closes the session at once and cancels its backend calls. It
// reports whether the client was logged in (and so possibly cut off with
// requests in flight).
func (s *session) kill() bool {
	if s.killed.Swap(true) {
		return false
	}
	s.breakConn() // first: no reply to a canceled call can be written
	s.cancel()
	if !s.authed.Load() {
		return false
	}
	s.p.counters.forced.Add(1)
	return true
}

// breakConn marks the connection failed and closes it, which ends the
// reader's and the writer's I/O.
func (s *session) breakConn() {
	s.breakOnce.Do(func() {
		close(s.broken)
		_ = s.nc.Close()
	})
}

// reconnectPubSub asks the session's pub/sub connection, if any, to
// reconnect.
func (s *session) reconnectPubSub() {
	if ps := s.ps.Load(); ps != nil {
		ps.reconnect()
	}
}
