package fleartest

import (
	"time"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// Overlaps counts what the real Fleare server does not survive, as this
// server saw it. A test asserts they stay zero to show that a client is
// safe for the real server.
type Overlaps struct {
	// Handshakes counts connections accepted while another connection's
	// handshake was in progress: on the real server one of them is
	// stranded and its listener wedges. (With SerialAccept, handshakes run
	// on the accept loop and cannot be seen to overlap.)
	Handshakes uint64
	// Disconnects counts client disconnects seen within DisconnectWindow of
	// the previous one: the real server crashes on closes that come
	// together.
	Disconnects uint64
	// DisconnectsDuringHandshake counts client disconnects seen during
	// another connection's handshake, and handshakes starting within
	// DisconnectWindow of a disconnect: the real server crashes when its
	// accept path and its disconnect path run together.
	DisconnectsDuringHandshake uint64
}

// Overlaps returns what the server has seen since it started.
func (s *Server) Overlaps() Overlaps {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overlaps
}

// clientLeft records a disconnect the client made (the server did not
// close the connection itself).
func (s *Server) clientLeft(sc *serverConn) {
	if sc.killedByServer() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.lastDisc) < s.window {
		s.overlaps.Disconnects++
	}
	others := s.hs
	if sc.handshaking {
		others--
	}
	if others > 0 {
		s.overlaps.DisconnectsDuringHandshake++
	}
	s.lastDisc = now
	s.signalLocked()
}

// endHandshakeLocked marks sc's handshake over, if it was in progress.
func (s *Server) endHandshakeLocked(sc *serverConn) {
	if sc.handshaking {
		sc.handshaking = false
		s.hs--
	}
}

// Crashed reports whether the server crashed (CrashOnMissingKey) and has
// not been restarted.
func (s *Server) Crashed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.crashed
}

// crash stops the server the way the real one dies: the listener and every
// connection close at once, nothing is answered, and it stays down until
// Restart. It does not wait for the server's goroutines (it runs on one).
func (s *Server) crash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutLocked()
	s.crashed = true
	s.signalLocked()
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

// HoldHandshakes makes the server, while on, accept new connections and
// count their handshakes as in progress, but not read their auth frame
// (nor see them end) until the hold is lifted: a server too busy to get
// to them, as the real one is under load. A client that gives up on such
// a connection and closes it leaves its handshake in progress until then;
// in Strict mode a connection arriving meanwhile is stranded.
func (s *Server) HoldHandshakes(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case on && s.hold == nil:
		s.hold = make(chan struct{})
	case !on && s.hold != nil:
		close(s.hold)
		s.hold = nil
	}
}

// FailAuth makes every new authentication fail, whatever the credentials.
func (s *Server) FailAuth(on bool) { s.failAuth.Store(on) }

// DropNextAuths makes the server close the next n connections right after
// reading their auth frame, without a reply, as the real server sometimes
// does to a new connection that reuses the descriptor of one just closed.
func (s *Server) DropNextAuths(n int) { s.dropAuths.Store(int64(n)) }

// takeDropAuth reports whether this auth is one DropNextAuths asked for.
func (s *Server) takeDropAuth() bool {
	for {
		n := s.dropAuths.Load()
		if n <= 0 {
			return false
		}
		if s.dropAuths.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

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

// StrayAfterNextReply makes the next command reply the server writes, on
// any connection, be followed in the same write by a copy of itself: one
// frame no request asked for, arriving with a reply (a server fault).
func (s *Server) StrayAfterNextReply() { s.strayNext.Store(true) }

// WriteStray writes, on every authenticated connection that has no request
// being served (the server answered all it read), a copy of the last reply
// written on it: one frame no request asked for, arriving on its own. It
// returns how many connections got one. A client that is not sending at
// that moment has nothing in flight, so the frame can only be a stray.
func (s *Server) WriteStray() int {
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for sc := range s.conns {
		if sc.authed {
			conns = append(conns, sc)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, sc := range conns {
		if s.writeStrayOn(sc) {
			n++
		}
	}
	if n > 0 {
		s.mu.Lock()
		s.signalLocked()
		s.mu.Unlock()
	}
	return n
}

func (s *Server) writeStrayOn(sc *serverConn) bool {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	if !sc.idle {
		return false
	}
	frame := sc.lastReply
	if frame == nil {
		var err error
		if frame, err = wire.AppendFrame(nil, &wire.Response{ClientId: sc.id, Status: "Ok", Result: []byte("PONG ")}); err != nil {
			return false
		}
	}
	if _, err := sc.bw.Write(frame); err != nil || sc.bw.Flush() != nil {
		return false
	}
	sc.strayed = true
	return true
}

// RequestsAfterStray counts the requests read on connections after a stray
// frame was written on them. A client that finds stray frames before it
// reuses a connection leaves it at zero: each such request would have been
// given the stray as its reply.
func (s *Server) RequestsAfterStray() uint64 { return s.afterStry.Load() }
