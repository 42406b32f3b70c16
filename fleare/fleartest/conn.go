package fleartest

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// Texts of the real server's authentication failures.
const (
	msgBadCredentials = "ConnectionFailed: The username or password you entered is incorrect. Please try again with valid credentials.\n"
	msgNeedsUser      = "ConnectionFailed: Username and password must be provided\n"
	msgAuthDisabled   = "ConnectionFailed: authentication is disabled on this server; connect without a username and password\n"
	msgBadAuthFrame   = "ConnectionFailed: invalid authentication request\n"
)

// handshake reads the first frame as the authentication request, whatever
// its command, and answers it. On failure the connection is answered (when
// there is something to answer) and closed.
func (s *Server) handshake(sc *serverConn) bool {
	user, msg, ok := s.authenticate(sc)
	s.mu.Lock()
	if s.opts.Strict {
		s.handshaking = false // before the reply: the client may dial again at once
	}
	if ok {
		sc.user = user
		sc.authed = true
		s.authed++
		s.signalLocked()
	}
	s.mu.Unlock()
	switch {
	case ok:
		if s.writeResponse(sc, &wire.Response{ClientId: sc.id, Status: "Ok", Result: []byte("Connected")}) == nil {
			return true
		}
	case msg != "":
		_ = s.writeResponse(sc, &wire.Response{ClientId: sc.id, Status: "Error", Result: []byte(msg)})
	}
	s.drop(sc)
	return false
}

// authenticate reads and checks the auth frame. An empty msg with !ok means
// there is nobody to answer.
func (s *Server) authenticate(sc *serverConn) (user, msg string, ok bool) {
	body, err := wire.ReadFrame(sc.br, nil)
	if err != nil {
		return "", "", false
	}
	if s.stall.Load() {
		_, _ = sc.br.Discard(1 << 62) // never answer; wait for either side to close
		return "", "", false
	}
	var cmd wire.Command
	if err := proto.Unmarshal(body, &cmd); err != nil {
		return "", msgBadAuthFrame, false
	}
	args := cmd.GetArgs()
	s.mu.Lock()
	users := s.users
	s.mu.Unlock()
	switch {
	case s.failAuth.Load():
		return "", msgBadCredentials, false
	case users == nil && len(args) != 0:
		return "", msgAuthDisabled, false
	case users == nil:
		return "", "", true
	case len(args) != 2:
		return "", msgNeedsUser, false
	}
	if pw, found := users[args[0]]; !found || pw != args[1] {
		return "", msgBadCredentials, false
	}
	return args[0], "", true
}

// serve answers commands in order until the connection ends. Replies to
// pipelined requests are flushed together once no request is left buffered.
func (s *Server) serve(sc *serverConn) {
	defer s.drop(sc)
	var (
		buf  []byte
		cmd  wire.Command
		resp wire.Response
	)
	for {
		body, err := wire.ReadFrame(sc.br, buf)
		if err != nil {
			return // end of stream, I/O error, or an invalid length: drop it
		}
		buf = body
		if !s.delay(sc) {
			return
		}
		resp.Reset()
		resp.ClientId = sc.id
		if err := proto.Unmarshal(body, &cmd); err != nil {
			resp.Status, resp.Result = "Error", []byte("invalid command format: "+err.Error()+"\n")
		} else if st, res, ok := s.pubsub(sc, &cmd); ok {
			resp.Status, resp.Result = st, res // Status "": no reply
		} else {
			resp.Status, resp.Result = s.exec(sc, &cmd)
		}
		s.requests.Add(1)
		if err := s.answer(sc, &resp); err != nil {
			return
		}
	}
}

// answer buffers r, unless its Status is empty (a command the server does
// not answer), and flushes once no request is left buffered. Publishers
// write to the connection too, hence the lock.
func (s *Server) answer(sc *serverConn, r *wire.Response) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	if r.Status != "" {
		if err := s.bufferResponse(sc, r); err != nil {
			return err
		}
	}
	if sc.br.Buffered() == 0 {
		return sc.bw.Flush()
	}
	return nil
}

// delay waits for the configured latency, reporting false if the
// connection was closed meanwhile.
func (s *Server) delay(sc *serverConn) bool {
	d := time.Duration(s.latency.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-sc.dead:
		return false
	}
}

func (s *Server) bufferResponse(sc *serverConn, r *wire.Response) error {
	b, err := wire.AppendFrame(sc.bw.AvailableBuffer(), r)
	if err != nil {
		return err
	}
	_, err = sc.bw.Write(b)
	return err
}

func (s *Server) writeResponse(sc *serverConn, r *wire.Response) error {
	if err := s.bufferResponse(sc, r); err != nil {
		return err
	}
	return sc.bw.Flush()
}
