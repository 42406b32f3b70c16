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

// DefaultDisconnectWindow is how close together two client disconnects
// (or a disconnect and a handshake) must be seen for Overlaps to count
// them. The real server survived closes 5-20ms apart and crashed on
// back-to-back ones.
const DefaultDisconnectWindow = time.Millisecond

// Options configure a Server. The zero value is a server without auth on
// 127.0.0.1 and a free port, accepting connections concurrently, faithful
// to the real server in its replies.
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
	// accepted but never answered, and from then on the listener is wedged:
	// every later connection is stranded too, until Stop and Restart (see
	// Stranded and Wedged). A client that dials in parallel is caught by
	// it. Default false.
	Strict bool
	// Latency delays every command reply (not the auth reply). Default 0;
	// change it live with SetLatency.
	Latency time.Duration
	// DisconnectWindow is how close together client disconnects, or a
	// disconnect and a handshake, count as overlapping (see Overlaps).
	// Default DefaultDisconnectWindow (1ms).
	DisconnectWindow time.Duration
	// CrashOnMissingKey makes STR.GET and NUM.GET of a key that does not
	// exist crash the server, as they crash the real one: the listener and
	// every connection close at once, without replies, until Restart (see
	// Crashed). Default false: they answer "Ok" with an empty result, as the
	// server's documentation says they should.
	CrashOnMissingKey bool
	// ExactExists makes EXISTS count past 127 keys. Default false: it counts
	// in 8 signed bits as the real server does (200 existing keys answer
	// -56).
	ExactExists bool
}

// Server is an in-process Fleare server for tests and demos. Its methods are
// safe for concurrent use.
type Server struct {
	opts   Options
	addr   string // host:port, fixed by the first listen and kept by Restart
	window time.Duration

	refuse    atomic.Bool
	stall     atomic.Bool
	failAuth  atomic.Bool
	dropAuths atomic.Int64
	strayNext atomic.Bool
	latency   atomic.Int64
	requests  atomic.Uint64
	afterStry atomic.Uint64

	data *store
	subs *pubsub
	wg   sync.WaitGroup // accept loop and connection goroutines

	mu sync.Mutex
	// Guarded by mu.
	ln       net.Listener // nil while stopped or crashed
	closed   bool
	crashed  bool
	wedged   bool // Strict: a handshake was stranded; cleared by Restart
	users    map[string]string
	conns    map[*serverConn]struct{}
	authed   int
	accepted uint64
	stranded uint64
	hs       int       // handshakes in progress
	lastDisc time.Time // when the last client disconnect was seen
	overlaps Overlaps
	nextID   int
	hold     chan struct{} // HoldHandshakes: closed when the hold is lifted; nil when none
	changed  chan struct{}
}

// Start starts a server and returns once it is listening. Stop or Close it
// when done.
func Start(o Options) (*Server, error) {
	s := &Server{
		opts:    o,
		window:  o.DisconnectWindow,
		data:    newStore(),
		subs:    newPubsub(),
		users:   copyUsers(o.Users),
		conns:   make(map[*serverConn]struct{}),
		changed: make(chan struct{}),
	}
	if s.window <= 0 {
		s.window = DefaultDisconnectWindow
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
	s.crashed, s.wedged = false, false
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
// they arrived during another connection's handshake or on a wedged
// listener.
func (s *Server) Stranded() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stranded
}

// Wedged reports whether Strict mode's listener is wedged: a handshake was
// stranded, and every connection since has been, as on the real server.
// Stop and Restart clear it.
func (s *Server) Wedged() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wedged
}

// Stop closes the listener and every connection, and waits for the
// server's goroutines. The data stays; Restart listens again on the same
// address.
func (s *Server) Stop() {
	s.mu.Lock()
	s.shutLocked()
	s.mu.Unlock()
	s.wg.Wait()
}

// shutLocked closes the listener and every connection.
func (s *Server) shutLocked() {
	if s.ln != nil {
		_ = s.ln.Close()
		s.ln = nil
	}
	for sc := range s.conns {
		sc.kill()
	}
}

// Restart listens again on the address of the first start, after Stop or
// a crash.
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
// or closed, a stray frame is written, or the server stops, crashes or
// restarts; it may call the Server's methods.
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

// signal wakes Wait.
func (s *Server) signal() {
	s.mu.Lock()
	s.signalLocked()
	s.mu.Unlock()
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
		sc, strand := s.track(nc)
		switch {
		case sc == nil:
		case s.refuse.Load():
			s.drop(sc)
		case strand:
			s.wg.Go(func() { s.strand(sc) })
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

// track registers an accepted connection, or closes it if the server is
// stopping, and starts its handshake: strand reports that Strict mode
// strands it instead (another handshake is in progress, or the listener
// is wedged). A handshake starting during another, or just after a client
// disconnect, counts in Overlaps.
func (s *Server) track(nc net.Conn) (sc *serverConn, strand bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		_ = nc.Close()
		return nil, false
	}
	s.accepted++
	s.nextID++
	sc = newServerConn(nc, s.nextID)
	s.conns[sc] = struct{}{}
	s.signalLocked()
	if s.refuse.Load() {
		return sc, false
	}
	now := time.Now()
	if s.hs > 0 {
		s.overlaps.Handshakes++
	}
	if now.Sub(s.lastDisc) < s.window {
		s.overlaps.DisconnectsDuringHandshake++
	}
	if s.opts.Strict && (s.hs > 0 || s.wedged) {
		s.stranded++
		s.wedged = true
		return sc, true
	}
	s.hs++
	sc.handshaking = true
	sc.hold = s.hold
	return sc, false
}

// drop closes a connection and forgets it.
func (s *Server) drop(sc *serverConn) {
	sc.kill()
	s.subs.unsubscribeAll(sc)
	s.mu.Lock()
	delete(s.conns, sc)
	if sc.authed {
		s.authed--
	}
	s.endHandshakeLocked(sc)
	s.signalLocked()
	s.mu.Unlock()
}

// strand holds a connection open without ever answering, until the client
// or the server closes it.
func (s *Server) strand(sc *serverConn) {
	_, _ = sc.br.Discard(1 << 62)
	s.clientLeft(sc)
	s.drop(sc)
}

// serverConn is one client connection.
type serverConn struct {
	nc        net.Conn
	br        *bufio.Reader // owned by the connection's goroutine
	id        string
	user      string
	createdAt time.Time
	dead      chan struct{} // closed by kill
	once      sync.Once

	wmu       sync.Mutex // guards bw and the fields below it
	bw        *bufio.Writer
	idle      bool   // the server has answered everything it read and waits for more
	lastReply []byte // the last reply frame written, for WriteStray
	strayed   bool   // a stray frame was written: requests read after it are counted

	hold <-chan struct{} // HoldHandshakes at accept: the handshake waits for it

	// Guarded by Server.mu.
	authed      bool
	handshaking bool
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

// killedByServer reports whether the server closed the connection itself.
func (sc *serverConn) killedByServer() bool {
	select {
	case <-sc.dead:
		return true
	default:
		return false
	}
}
