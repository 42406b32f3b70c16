package proxy

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// The real server's answers to a failed login (no trailing newline), each
// followed by closing the connection, and the proxy's own for MaxClients.
const (
	msgBadCredentials  = "ConnectionFailed: The username or password you entered is incorrect. Please try again with valid credentials."
	msgNeedCredentials = "ConnectionFailed: failed to authenticate, please ensure your username and password are provided"
	msgInvalidArgs     = "ConnectionFailed: invalid arguments"
	msgInvalidFormat   = "ConnectionFailed: invalid data format"
	msgInvalidAuthData = "ConnectionFailed: invalid authentication data provided"
	msgTooManyClients  = "ConnectionFailed: too many clients: "
	msgConnected       = "Connected"
)

// maxEventUser bounds how much of a client-supplied user name an event
// carries.
const maxEventUser = 64

// readAuthFrame reads the first frame of a connection, which must arrive
// whole within timeout.
func readAuthFrame(br *bufio.Reader, nc net.Conn, timeout time.Duration) ([]byte, error) {
	_ = nc.SetReadDeadline(time.Now().Add(timeout))
	return wire.ReadFrame(br, nil)
}

// writeAuthReply writes the answer to a login.
func writeAuthReply(nc net.Conn, timeout time.Duration, clientID, status, result string) error {
	b, err := wire.AppendFrame(nil, &wire.Response{ClientId: clientID, Status: status, Result: []byte(result)})
	if err != nil {
		return err
	}
	_ = nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err = nc.Write(b)
	return err
}

// authenticate reads the client's first frame as its login, whatever its
// command (as the real server does), checks it against the users in force
// and answers it. It reports whether the client is logged in; otherwise the
// caller closes the connection.
func (s *session) authenticate() bool {
	s.deadline = true // the first readFrame clears it
	if !s.setReadDeadline(time.Now().Add(s.cfg.AuthTimeout)) {
		return false
	}
	body, err := wire.ReadFrame(s.br, nil)
	var fe *wire.FrameError
	switch {
	case errors.As(err, &fe):
		return s.refuse(msgInvalidAuthData, "", fmt.Sprintf("auth frame of invalid length %d", fe.Len))
	case isTimeout(err) && !s.draining.Load():
		s.authFailed("", fmt.Sprintf("no complete auth frame within %v", s.cfg.AuthTimeout))
		return false
	case err != nil:
		return false // gone, or closed by a shutdown
	}
	var cmd wire.Command
	if err := proto.Unmarshal(body, &cmd); err != nil {
		return s.refuse(msgInvalidFormat, "", "undecodable auth frame")
	}
	args := cmd.GetArgs()
	switch {
	case len(args) == 0:
		return s.refuse(msgNeedCredentials, "", "no credentials")
	case len(args) != 2:
		return s.refuse(msgInvalidArgs, "", fmt.Sprintf("%d auth arguments instead of 2", len(args)))
	case args[1] == "":
		return s.refuse(msgNeedCredentials, args[0], "empty password")
	}
	u, known := s.cfg.users[args[0]]
	if !known {
		return s.refuse(msgBadCredentials, args[0], "unknown user")
	}
	want := u.Password
	if u.PasswordFunc != nil {
		var err error
		if want, err = u.PasswordFunc(); err != nil || want == "" {
			reason := "the user's password cannot be read"
			if err != nil {
				reason += ": " + err.Error()
			}
			return s.refuse(msgBadCredentials, args[0], reason)
		}
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(want), []byte(args[1])) != 1:
		return s.refuse(msgBadCredentials, args[0], "wrong password")
	}
	s.user = args[0]
	if writeAuthReply(s.nc, s.cfg.WriteTimeout, s.id, "Ok", msgConnected) != nil {
		return false
	}
	_ = s.nc.SetWriteDeadline(time.Time{})
	return true
}

// refuse answers a failed login with msg; the caller then closes the
// connection.
func (s *session) refuse(msg, user, reason string) bool {
	s.authFailed(user, reason)
	_ = writeAuthReply(s.nc, s.cfg.WriteTimeout, "", "Error", msg)
	return false
}

func (s *session) authFailed(user, reason string) {
	s.p.counters.authFailures.Add(1)
	if len(user) > maxEventUser {
		user = strings.ToValidUTF8(user[:maxEventUser], "") + "..."
	}
	s.p.emit(EventAuthFailed, s.remote, user, reason)
}
