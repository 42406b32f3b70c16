package fleartest

import (
	"errors"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// Texts of the real server's authentication failures: no trailing newline,
// and the reply carries no client id.
const (
	msgBadCredentials = "ConnectionFailed: The username or password you entered is incorrect. Please try again with valid credentials."
	msgNeedsUser      = "ConnectionFailed: failed to authenticate, please ensure your username and password are provided"
	msgBadArgs        = "ConnectionFailed: invalid arguments"
	msgBadAuthFrame   = "ConnectionFailed: invalid data format"
	msgEmptyAuthFrame = "ConnectionFailed: invalid authentication data provided"
	// msgAuthDisabled is this server's own text: the real server's for
	// credentials sent to a server without auth was not recorded.
	msgAuthDisabled = "ConnectionFailed: authentication is disabled on this server; connect without a username and password"
)

// handshake reads the first frame as the authentication request, whatever
// its command, and answers it. On failure the connection is answered (when
// there is something to answer) and closed.
func (s *Server) handshake(sc *serverConn) bool {
	if sc.hold != nil {
		select {
		case <-sc.hold:
		case <-sc.dead:
		}
	}
	user, msg, ok := s.authenticate(sc)
	s.mu.Lock()
	s.endHandshakeLocked(sc) // before the reply: the client may dial again at once
	if ok {
		sc.user = user
		sc.authed = true
		s.authed++
		s.signalLocked()
	}
	s.mu.Unlock()
	switch {
	case ok:
		if s.writeReply(sc, &wire.Response{ClientId: sc.id, Status: "Ok", Result: []byte("Connected")}) == nil {
			return true
		}
	case msg != "":
		_ = s.writeReply(sc, &wire.Response{Status: "Error", Result: []byte(msg)})
	}
	s.drop(sc)
	return false
}

// authenticate reads and checks the auth frame. An empty msg with !ok means
// there is nobody to answer.
func (s *Server) authenticate(sc *serverConn) (user, msg string, ok bool) {
	body, err := wire.ReadFrame(sc.br, nil)
	if fe := (*wire.FrameError)(nil); errors.As(err, &fe) && fe.Len == 0 {
		return "", msgEmptyAuthFrame, false
	}
	if err != nil {
		s.clientLeft(sc)
		return "", "", false
	}
	if s.stall.Load() {
		_, _ = sc.br.Discard(1 << 62) // never answer; wait for either side to close
		s.clientLeft(sc)
		return "", "", false
	}
	if s.takeDropAuth() {
		return "", "", false
	}
	var cmd wire.Command
	if err := proto.Unmarshal(body, &cmd); err != nil {
		return "", msgBadAuthFrame, false
	}
	s.mu.Lock()
	users := s.users
	s.mu.Unlock()
	return checkCredentials(users, cmd.GetArgs(), s.failAuth.Load())
}

// checkCredentials answers an auth frame's arguments as the real server
// does.
func checkCredentials(users map[string]string, args []string, fail bool) (user, msg string, ok bool) {
	switch {
	case fail:
		return "", msgBadCredentials, false
	case users == nil && len(args) != 0:
		return "", msgAuthDisabled, false
	case users == nil:
		return "", "", true
	case len(args) == 0:
		return "", msgNeedsUser, false
	case len(args) != 2:
		return "", msgBadArgs, false
	case args[0] == "" || args[1] == "":
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
		body, err := s.nextRequest(sc, buf)
		if err != nil {
			var fe *wire.FrameError
			if !errors.As(err, &fe) {
				s.clientLeft(sc)
			}
			return // end of stream, I/O error, or an invalid length: drop it
		}
		buf = body
		if !s.delay(sc) {
			return
		}
		resp.Reset()
		if err := proto.Unmarshal(body, &cmd); err != nil {
			resp.ClientId, resp.Status, resp.Result = sc.id, "Error", []byte(invalidCommand(err))
		} else if !s.exec(sc, &cmd, &resp) {
			return // the server crashed
		}
		s.requests.Add(1)
		if resp.Status == "" {
			continue // SUBSCRIBE and UNSUBSCRIBE are not answered
		}
		if err := s.reply(sc, &resp); err != nil {
			return
		}
	}
}

// invalidCommand is the text of the reply to a frame that is not a
// Command. The protobuf library sometimes writes a no-break space after
// "proto:" (so that nobody depends on its texts); the real server's reply
// has a plain space.
func invalidCommand(err error) string {
	return "invalid command format: " + strings.ReplaceAll(err.Error(), "\u00a0", " ") + "\n"
}

// nextRequest waits for the next request frame, marking the connection
// idle (for WriteStray) while the server has answered all it read.
func (s *Server) nextRequest(sc *serverConn, buf []byte) ([]byte, error) {
	if sc.br.Buffered() == 0 {
		sc.wmu.Lock()
		sc.idle = true
		sc.wmu.Unlock()
	}
	body, err := wire.ReadFrame(sc.br, buf)
	sc.wmu.Lock()
	sc.idle = false
	strayed := sc.strayed
	sc.wmu.Unlock()
	if err == nil && strayed {
		s.afterStry.Add(1)
	}
	return body, err
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

// reply buffers a command's reply, followed by a copy of it when
// StrayAfterNextReply asked for one, and flushes once no request is left
// to read.
func (s *Server) reply(sc *serverConn, r *wire.Response) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	frame, err := sc.bufferLocked(r)
	if err != nil {
		return err
	}
	sc.lastReply = append(sc.lastReply[:0], frame...)
	if s.strayNext.CompareAndSwap(true, false) {
		if _, err := sc.bw.Write(sc.lastReply); err != nil {
			return err
		}
		sc.strayed = true
		s.mu.Lock()
		s.signalLocked()
		s.mu.Unlock()
	}
	if sc.br.Buffered() == 0 {
		return sc.bw.Flush()
	}
	return nil
}

// writeReply writes one reply at once (auth replies and pushes).
func (s *Server) writeReply(sc *serverConn, r *wire.Response) error {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	if _, err := sc.bufferLocked(r); err != nil {
		return err
	}
	return sc.bw.Flush()
}

// bufferLocked encodes r into the connection's write buffer and returns
// its frame, valid until the next write. sc.wmu is held.
func (sc *serverConn) bufferLocked(r *wire.Response) ([]byte, error) {
	frame, err := wire.AppendFrame(sc.bw.AvailableBuffer(), r)
	if err != nil {
		return nil, err
	}
	_, err = sc.bw.Write(frame)
	return frame, err
}
