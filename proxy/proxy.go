package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// Backend carries the requests of logged-in clients to the server. Both
// *fleare.Client and the manager's *manager.Client satisfy it: Exec returns
// the server's reply as it came, an "Error" reply included, and an error
// only when the request failed.
type Backend interface {
	Exec(ctx context.Context, command string, args ...string) (fleare.Reply, error)
}

// ErrClosed is returned by Listen once Shutdown or Close was called.
var ErrClosed = errors.New("proxy: closed")

// maxRejecting bounds the connections being refused at once for
// MaxClients (each is read its auth frame and answered); more arriving
// meanwhile are closed without an answer.
const maxRejecting = 64

// Proxy serves the Fleare protocol to applications and carries their
// requests to one Backend. Its client sessions belong to the Proxy, not to
// the listener that accepted them, so listeners can be opened and closed
// independently (a new address opened before the old one closes). It is
// safe for concurrent use; create it with New and end it with Shutdown or
// Close.
type Proxy struct {
	backend     Backend
	batcher     BatchBackend // backend, when it takes batches; else nil
	cfg         atomic.Pointer[settings]
	sem         atomic.Pointer[semaphore] // MaxInFlight tokens
	nextID      atomic.Uint64             // numbers client ids
	subscribers atomic.Int64              // sessions holding a pub/sub connection
	counters    counters
	wg          sync.WaitGroup // accept loops, sessions and workers
	tasks       chan task      // hands a request to an idle worker
	batchGate   chan struct{}  // capacity 1: held by a session taking tokens for a batch
	quit        chan struct{}  // closed by Shutdown: idle workers return
	quitOnce    sync.Once

	mu sync.Mutex
	// Guarded by mu.
	closing   bool
	listeners map[*Listener]struct{}
	sessions  map[*session]struct{}
	rejecting int // connections being refused for MaxClients
}

// New returns a Proxy carrying requests to b. It opens nothing: call
// Listen. Invalid options are reported with every problem.
func New(b Backend, o Options) (*Proxy, error) {
	if b == nil {
		return nil, errors.New("proxy: nil backend")
	}
	s, err := newSettings(o)
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		tasks:     make(chan task),
		batchGate: make(chan struct{}, 1),
		quit:      make(chan struct{}),
		backend:   b,
		listeners: make(map[*Listener]struct{}),
		sessions:  make(map[*session]struct{}),
	}
	p.batcher, _ = b.(BatchBackend)
	p.cfg.Store(s)
	p.sem.Store(newSemaphore(s.MaxInFlight))
	return p, nil
}

// Update replaces the options, live. The users, MaxClients and AuthTimeout
// apply to connections accepted from now on, the other limits and Dial to
// clients logging in from now on; clients already logged in keep theirs.
// Invalid options change nothing.
func (p *Proxy) Update(o Options) error {
	s, err := newSettings(o)
	if err != nil {
		return err
	}
	p.cfg.Store(s)
	if cap(p.sem.Load().tokens) != s.MaxInFlight {
		close(p.sem.Swap(newSemaphore(s.MaxInFlight)).replaced)
	}
	return nil
}

// semaphore bounds the requests in flight to the backend. When MaxInFlight
// changes it is replaced: tokens taken go back to the old one, and callers
// waiting move to the new one.
type semaphore struct {
	tokens   chan struct{}
	replaced chan struct{} // closed when a new semaphore replaces this one
}

func newSemaphore(n int) *semaphore {
	return &semaphore{tokens: make(chan struct{}, n), replaced: make(chan struct{})}
}

// acquire takes a token, waiting as long as neither stop channel is
// closed; the caller gives it back to the semaphore returned.
func (p *Proxy) acquire(stop1, stop2 <-chan struct{}) (*semaphore, bool) {
	for {
		sem := p.sem.Load()
		select {
		case sem.tokens <- struct{}{}:
			return sem, true
		case <-sem.replaced:
		case <-stop1:
			return nil, false
		case <-stop2:
			return nil, false
		}
	}
}

func (s *semaphore) release() { <-s.tokens }

// Listener is one address a Proxy accepts clients on.
type Listener struct {
	p    *Proxy
	ln   net.Listener
	once sync.Once
	done chan struct{} // closed when the accept loop has returned
}

// Listen opens a TCP listener on addr (host:port; port 0 picks a free one)
// and accepts clients on it until the Listener or the Proxy is closed.
// A Proxy may listen on several addresses at once.
func (p *Proxy) Listen(addr string) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	l := &Listener{p: p, ln: ln, done: make(chan struct{})}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		_ = ln.Close()
		return nil, ErrClosed
	}
	p.listeners[l] = struct{}{}
	p.wg.Go(l.acceptLoop)
	p.mu.Unlock()
	return l, nil
}

// Addr returns the address the Listener accepts on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Close stops accepting and waits for the accept loop to return. Clients
// accepted through the Listener stay connected: they belong to the Proxy.
// It is idempotent.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		err = l.ln.Close()
		l.p.mu.Lock()
		delete(l.p.listeners, l)
		l.p.mu.Unlock()
	})
	<-l.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// acceptLoop accepts clients until the listener is closed. Accept errors
// that are not the listener closing (out of file descriptors, say) are
// retried after a pause that grows to a second.
func (l *Listener) acceptLoop() {
	defer close(l.done)
	var pause time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			time.Sleep(pause)
			continue
		}
		pause = 0
		l.p.admit(nc)
	}
}

// admit starts a session for nc, or the refusal of a client over the
// limit. No backend connection is involved.
func (p *Proxy) admit(nc net.Conn) {
	p.counters.accepted.Add(1)
	cfg := p.cfg.Load()
	p.mu.Lock()
	switch {
	case p.closing:
		p.mu.Unlock()
		_ = nc.Close()
	case len(p.sessions) < cfg.MaxClients:
		s, ctx := newSession(p, nc, cfg)
		p.sessions[s] = struct{}{}
		p.wg.Go(func() { s.run(ctx) })
		p.mu.Unlock()
	case p.rejecting < maxRejecting:
		p.rejecting++
		p.wg.Go(func() { p.reject(nc, cfg) })
		p.mu.Unlock()
	default:
		p.mu.Unlock()
		p.counters.limitHits.Add(1)
		p.emit(EventClientLimit, nc.RemoteAddr().String(), "", p.limitText(cfg)+"; closed unanswered")
		_ = nc.Close()
	}
}

func (p *Proxy) limitText(cfg *settings) string {
	return fmt.Sprintf("max_clients (%d) reached", cfg.MaxClients)
}

// reject reads a refused client's auth frame, so that the answer is not
// lost to a connection reset, then answers it with the limit and closes it.
func (p *Proxy) reject(nc net.Conn, cfg *settings) {
	defer func() {
		_ = nc.Close()
		p.mu.Lock()
		p.rejecting--
		p.mu.Unlock()
	}()
	reason := p.limitText(cfg)
	p.counters.limitHits.Add(1)
	p.emit(EventClientLimit, nc.RemoteAddr().String(), "", reason)
	if _, err := readAuthFrame(bufio.NewReaderSize(nc, 512), nc, cfg.AuthTimeout); err != nil {
		return
	}
	_ = writeAuthReply(nc, cfg.WriteTimeout, "", "Error", msgTooManyClients+reason)
}

// forget removes a finished session.
func (p *Proxy) forget(s *session) {
	p.mu.Lock()
	delete(p.sessions, s)
	p.mu.Unlock()
}

// ReconnectSubscribers makes every subscribed client's dedicated pub/sub
// connection reconnect through Dial and subscribe again, the new one
// opened before the old one is closed. Call it after the server's address
// or credentials changed (a replace), so that subscribers follow.
func (p *Proxy) ReconnectSubscribers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for s := range p.sessions {
		s.reconnectPubSub()
	}
}

// DrainError is returned by Shutdown when its context ended before every
// client's requests were answered: those clients were closed regardless.
type DrainError struct {
	// Forced is how many client connections were closed that way.
	Forced int
	// Err is the context's error.
	Err error
}

func (e *DrainError) Error() string {
	return fmt.Sprintf("proxy: shutdown: %d client(s) closed with requests in flight: %v", e.Forced, e.Err)
}

// Unwrap returns the context's error.
func (e *DrainError) Unwrap() error { return e.Err }

// Shutdown stops every listener, closes clients that have not logged in,
// stops reading requests from the others, and lets their requests in
// flight be answered; each client is closed once its replies are written.
// When ctx ends first, the remaining clients are closed at once, their
// backend requests canceled, and a *DrainError says how many. Shutdown
// returns once every goroutine of the Proxy has ended. It may be called
// again (and Close after it); later calls wait in the same way.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.quitOnce.Do(func() { close(p.quit) })
	lns := make([]*Listener, 0, len(p.listeners))
	for l := range p.listeners {
		lns = append(lns, l)
	}
	sessions := p.sessionsLocked()
	p.mu.Unlock()
	for _, s := range sessions { // new ones are refused: closing is set
		s.drain()
	}
	for _, l := range lns {
		_ = l.Close()
	}
	done := make(chan struct{})
	go func() { // joined below, whichever way the select goes
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	sessions = p.sessionsLocked()
	p.mu.Unlock()
	forced := 0
	for _, s := range sessions {
		if s.kill() {
			forced++
		}
	}
	<-done
	if forced == 0 {
		return nil
	}
	return &DrainError{Forced: forced, Err: ctx.Err()}
}

// Close is Shutdown without waiting for requests in flight: every client
// is closed at once.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var de *DrainError
	if err := p.Shutdown(ctx); err != nil && !errors.As(err, &de) {
		return err
	}
	return nil
}

func (p *Proxy) sessionsLocked() []*session {
	out := make([]*session, 0, len(p.sessions))
	for s := range p.sessions {
		out = append(out, s)
	}
	return out
}
