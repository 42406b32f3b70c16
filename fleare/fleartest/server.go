package fleartest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Options configure a Server. The zero value is a server without auth on
// 127.0.0.1 and a free port, accepting connections concurrently.
type Options struct {
	// Addr is the address to listen on. Default "127.0.0.1:0" (a free port).
	Addr string
	// Users maps usernames to passwords. Empty: the server runs without auth,
	// and an auth frame carrying credentials is refused, as the real server
	// does.
	Users map[string]string
	// SerialAccept makes the server authenticate connections on its accept
	// loop, one at a time and with no timeout, as the real server does: a
	// client that connects and stays silent blocks every other connect until
	// it goes away. Default false (each connection handled on its own).
	SerialAccept bool
	// Strict models the real server's edge-triggered listener: a connection
	// that arrives while another one's handshake is in progress is stranded,
	// accepted but never answered (see Stranded). A pool that dials in
	// parallel is caught by it. Handshakes run one at a time. Default false.
	Strict bool
	// Latency delays every command reply (not the auth reply). Default 0;
	// change it live with SetLatency.
	Latency time.Duration
}

// Server is an in-process Fleare server for tests and demos. Its methods are
// safe for concurrent use.
type Server struct {
	opts Options
	addr string // host:port, fixed by the first listen and kept by Restart

	refuse   atomic.Bool
	stall    atomic.Bool
	failAuth atomic.Bool
	latency  atomic.Int64
	requests atomic.Uint64

	data *store
	wg   sync.WaitGroup // accept loop and connection goroutines

	mu sync.Mutex
	// Guarded by mu.
	ln          net.Listener // nil while stopped
	closed      bool
	users       map[string]string
	conns       map[*serverConn]struct{}
	authed      int
	accepted    uint64
	stranded    uint64
	handshaking bool // Strict: a handshake is in progress
	nextID      int
	topics      map[string]map[*serverConn]struct{} // pub/sub channels and their subscribers
	changed     chan struct{}
}

// Start starts a server and returns once it is listening. Stop or Close it
// when done.
func Start(o Options) (*Server, error) {
	s := &Server{
		opts:    o,
		data:    newStore(),
		users:   copyUsers(o.Users),
		conns:   make(map[*serverConn]struct{}),
		changed: make(chan struct{}),
	}
	s.latency.Store(int64(o.Latency))
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fleartest: listen: %w", err)
	}
	s.addr = ln.Addr().String()
	s.serveListener(ln)
	return s, nil
}

// NewServer starts a server for a test and closes it when the test ends.
func NewServer(tb testing.TB, o Options) *Server {
	tb.Helper()
	s, err := Start(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

func copyUsers(u map[string]string) map[string]string {
	if len(u) == 0 {
		return nil
	}
	out := make(map[string]string, len(u))
	for k, v := range u {
		out[k] = v
	}
	return out
}

func (s *Server) serveListener(ln net.Listener) {
	s.mu.Lock()
	s.ln = ln
	s.signalLocked()
	s.mu.Unlock()
	s.wg.Go(func() { s.acceptLoop(ln) })
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Host returns the host part of Addr.
func (s *Server) Host() string {
	h, _, _ := net.SplitHostPort(s.addr)
	return h
}

// Port returns the port part of Addr.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Conns returns the number of live authenticated connections.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authed
}

// Requests returns the number of commands answered, auth frames excluded.
func (s *Server) Requests() uint64 { return s.requests.Load() }

// Accepted returns the number of TCP connections accepted.
func (s *Server) Accepted() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Stranded returns the number of connections Strict mode stranded because
// they arrived during another connection's handshake.
func (s *Server) Stranded() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stranded
}

// SetLatency delays every command reply by d from now on.
func (s *Server) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// RefuseNew makes the server close new connections as soon as they are
// accepted (clients see the connection reset or closed during auth).
func (s *Server) RefuseNew(on bool) { s.refuse.Store(on) }

// StallNew makes the server accept new connections and never answer their
// auth frame: a hung server. The connections stay open until the client
// closes them or the server stops; in SerialAccept or Strict mode each one
// also blocks the handshakes behind it, as on the real server.
func (s *Server) StallNew(on bool) { s.stall.Store(on) }

// FailAuth makes every new authentication fail, whatever the credentials.
func (s *Server) FailAuth(on bool) { s.failAuth.Store(on) }

// SetUsers replaces the users for new authentications (existing connections
// stay authenticated). An empty map turns auth off.
func (s *Server) SetUsers(users map[string]string) {
	s.mu.Lock()
	s.users = copyUsers(users)
	s.mu.Unlock()
}

// CloseClientConnections closes every client connection (authenticated,
// handshaking, stalled or stranded) without a goodbye. The server keeps
// listening.
func (s *Server) CloseClientConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := range s.conns {
		sc.kill()
	}
}

// Stop closes the listener and every connection, and waits for the
// server's goroutines. The data stays; Restart listens again on the same
// address.
func (s *Server) Stop() {
	s.mu.Lock()
	if s.ln != nil {
		_ = s.ln.Close()
		s.ln = nil
	}
	for sc := range s.conns {
		sc.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Restart listens again on the address of the first start, after Stop.
func (s *Server) Restart() error {
	s.mu.Lock()
	running, closed := s.ln != nil, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return errors.New("fleartest: restart: server closed")
	case running:
		return errors.New("fleartest: restart: server is running")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("fleartest: restart: %w", err)
	}
	s.serveListener(ln)
	return nil
}

// Close stops the server for good. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.Stop()
}

// WaitConns waits until exactly n authenticated connections are live, or
// ctx ends.
func (s *Server) WaitConns(ctx context.Context, n int) error {
	err := s.Wait(ctx, func() bool { return s.Conns() == n })
	if err != nil {
		return fmt.Errorf("fleartest: waiting for %d connections (have %d): %w", n, s.Conns(), err)
	}
	return nil
}

// Wait waits until cond returns true, or ctx ends. cond is evaluated at
// once and again whenever a connection is accepted, authenticated, stranded
// or closed, or the server stops or restarts; it may call the Server's
// methods.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) acceptLoop(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient accept error: keep serving
		}
		sc := s.track(nc)
		if sc == nil {
			continue
		}
		switch {
		case s.refuse.Load():
			s.drop(sc)
		case s.opts.Strict:
			s.strictAccept(sc)
		case s.opts.SerialAccept:
			if s.handshake(sc) {
				s.wg.Go(func() { s.serve(sc) })
			}
		default:
			s.wg.Go(func() {
				if s.handshake(sc) {
					s.serve(sc)
				}
			})
		}
	}
}

// strictAccept starts a handshake, or strands the connection when one is
// already in progress.
func (s *Server) strictAccept(sc *serverConn) {
	s.mu.Lock()
	busy := s.handshaking
	if busy {
		s.stranded++
		s.signalLocked()
	} else {
		s.handshaking = true
	}
	s.mu.Unlock()
	if busy {
		s.wg.Go(func() { s.strand(sc) })
		return
	}
	s.wg.Go(func() {
		if s.handshake(sc) {
			s.serve(sc)
		}
	})
}

// track registers an accepted connection, or closes it if the server is
// stopping.
func (s *Server) track(nc net.Conn) *serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		_ = nc.Close()
		return nil
	}
	s.accepted++
	s.nextID++
	sc := newServerConn(nc, s.nextID)
	s.conns[sc] = struct{}{}
	s.signalLocked()
	return sc
}

// drop closes a connection and forgets it.
func (s *Server) drop(sc *serverConn) {
	sc.kill()
	s.mu.Lock()
	delete(s.conns, sc)
	s.unsubscribeLocked(sc, nil)
	if sc.authed {
		s.authed--
	}
	s.signalLocked()
	s.mu.Unlock()
}

// strand holds a connection open without ever answering, until the client
// or the server closes it.
func (s *Server) strand(sc *serverConn) {
	_, _ = sc.br.Discard(1 << 62)
	s.drop(sc)
}

// serverConn is one client connection.
type serverConn struct {
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	id        string
	user      string
	createdAt time.Time
	dead      chan struct{} // closed by kill
	once      sync.Once
	authed    bool                // guarded by Server.mu
	topics    map[string]struct{} // guarded by Server.mu: channels subscribed to
	wmu       sync.Mutex          // guards bw once authenticated: publishers write too
}

func newServerConn(nc net.Conn, n int) *serverConn {
	return &serverConn{
		nc:        nc,
		br:        bufio.NewReader(nc),
		bw:        bufio.NewWriter(nc),
		id:        fmt.Sprintf("%d-%s", n, nc.RemoteAddr()),
		createdAt: time.Now().UTC(),
		dead:      make(chan struct{}),
	}
}

func (sc *serverConn) kill() {
	sc.once.Do(func() {
		close(sc.dead)
		_ = sc.nc.Close()
	})
}
