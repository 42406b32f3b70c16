package fleare

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// Sentinel errors for states. Errors returned by this package wrap them, so
// test with errors.Is.
var (
	// ErrClosed means the Client was closed before the request got a
	// connection: the request was never sent, so it is always safe to retry
	// it elsewhere (on a replacement Client, for instance). A request that
	// was already on the wire when the Client closed fails with a *ConnError
	// instead, never with ErrClosed.
	ErrClosed = errors.New("fleare: client closed")

	// ErrNotConnected means Connect has not been called yet. Nothing was sent.
	ErrNotConnected = errors.New("fleare: not connected (Connect was not called)")

	// ErrQueueFull means every connection was busy and Options.MaxQueue
	// callers were already waiting. Nothing was sent.
	ErrQueueFull = errors.New("fleare: too many callers waiting for a connection")

	// ErrUnavailable means the Client has no open connection and its recent
	// dials failed (state error), so the request failed at once rather than
	// waiting. The error also wraps the last dial error. Nothing was sent.
	ErrUnavailable = errors.New("fleare: server unavailable")

	// ErrTimeout is matched by every *TimeoutError: a deadline passed while
	// dialing, waiting for a connection, or waiting for a reply.
	ErrTimeout = errors.New("fleare: timeout")

	// ErrBroken is matched by every *ConnError: the connection failed (I/O
	// error, invalid frame, closed by the peer or by Close) and is not used
	// again.
	ErrBroken = errors.New("fleare: connection broken")

	// ErrAuth is matched by every *AuthError.
	ErrAuth = errors.New("fleare: authentication failed")

	// ErrNotInPlace is returned by Client.Update for a change that needs new
	// connections (credentials, dialer): build a new Client instead.
	ErrNotInPlace = errors.New("fleare: option cannot change without new connections")
)

// FrameError reports a frame whose length the protocol forbids (zero, or over
// 10 MiB); it arrives wrapped in a *ConnError, or directly when a request is
// too large to send.
type FrameError = wire.FrameError

// ServerError is an "Error" reply from the server: the command was received
// and refused (unknown command, bad arguments...). The connection stays
// usable.
type ServerError struct {
	// Command is the command name as sent (its arguments are left out: they
	// may hold data that must not reach logs).
	Command string
	// Message is the server's text with trailing white space removed, e.g.
	// `InvalidArgumentError: Key and value must be provided`.
	Message string
}

func (e *ServerError) Error() string {
	return "fleare: " + e.Command + ": " + e.Message
}

// Kind returns the error class the server put before the first colon of its
// message, such as "InvalidCommandError", or "" when there is none.
func (e *ServerError) Kind() string {
	kind, _, ok := strings.Cut(e.Message, ":")
	if !ok || strings.ContainsAny(kind, " \t") {
		return ""
	}
	return kind
}

// AuthError means the server refused the connection's credentials. It never
// holds the password.
type AuthError struct {
	Addr     string
	Username string
	// Message is the server's reason, with the password masked should the
	// server ever echo it.
	Message string
}

func (e *AuthError) Error() string {
	user := e.Username
	if user == "" {
		user = "(no user)"
	}
	return fmt.Sprintf("fleare: authentication to %s as %s failed: %s", e.Addr, user, e.Message)
}

// Is makes errors.Is(err, ErrAuth) true.
func (e *AuthError) Is(target error) bool { return target == ErrAuth }

// TimeoutError means a deadline passed: the caller's context deadline or the
// configured RequestTimeout / ConnectTimeout, whichever came first. It
// matches ErrTimeout and context.DeadlineExceeded.
type TimeoutError struct {
	// Op is what was under way: "resolve", "dial", "auth", "acquire"
	// (waiting for a pooled connection), "write" or "read".
	Op   string
	Addr string
	// Sent reports whether the request may have reached the server. When
	// false it was never sent.
	Sent bool
}

func (e *TimeoutError) Error() string {
	if e.Op == "acquire" {
		return fmt.Sprintf("fleare: %s: timed out waiting for a free connection", e.Addr)
	}
	return fmt.Sprintf("fleare: %s %s: timed out", e.Op, e.Addr)
}

// Is makes errors.Is(err, ErrTimeout) true.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// Unwrap returns context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// Timeout reports true, as net.Error does.
func (e *TimeoutError) Timeout() bool { return true }

// SafeToRetry reports whether the request was never sent.
func (e *TimeoutError) SafeToRetry() bool { return !e.Sent }

// ConnError means a connection failed: an I/O error, an invalid frame, a
// peer that hung up, a stray reply, or Close forcing the connection shut.
// The connection is closed and not reused. (A request canceled by its
// context gets an error matching context.Canceled instead, and the
// connection is kept.)
type ConnError struct {
	// Op is what was under way: "resolve", "dial", "auth", "health check",
	// "write" or "read".
	Op   string
	Addr string
	// Sent reports whether the request may have reached the server.
	Sent bool
	// Err is the cause: a net error, io.EOF, *FrameError, a stray reply...
	Err error
}

func (e *ConnError) Error() string {
	return fmt.Sprintf("fleare: %s %s: %v", e.Op, e.Addr, e.Err)
}

// Is makes errors.Is(err, ErrBroken) true.
func (e *ConnError) Is(target error) bool { return target == ErrBroken }

// Unwrap returns the cause.
func (e *ConnError) Unwrap() error { return e.Err }

// SafeToRetry reports whether the request was never sent.
func (e *ConnError) SafeToRetry() bool { return !e.Sent }

// CloseError is returned by Client.Close when its context ended while
// requests were still in flight: their connections were closed under them.
type CloseError struct {
	// Forced is how many connections were closed with a request in flight.
	Forced int
	// Err is the context's error.
	Err error
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("fleare: close: %d connection(s) with a request in flight force-closed: %v", e.Forced, e.Err)
}

// Unwrap returns the context's error.
func (e *CloseError) Unwrap() error { return e.Err }

// notSent marks an error for a request that never left the client.
type notSent struct{ error }

func (e notSent) Unwrap() error     { return e.error }
func (e notSent) SafeToRetry() bool { return true }

// SafeToRetry reports whether err is known to come from a request that was
// never sent to the server, so that sending it again cannot run it twice:
// ErrClosed, ErrQueueFull, ErrNotConnected, ErrUnavailable, a timeout or
// cancellation while waiting for a connection, or a connection that failed
// before the request was written. A nil error or a *ServerError gives false.
func SafeToRetry(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrQueueFull) ||
		errors.Is(err, ErrNotConnected) || errors.Is(err, ErrUnavailable) {
		return true
	}
	var r interface{ SafeToRetry() bool }
	return errors.As(err, &r) && r.SafeToRetry()
}

// redact masks secret wherever it appears in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "<secret>")
}

// canceledError is the error of a request whose context was canceled after
// it started. It matches context.Canceled. When the request was sent, its
// reply is read and discarded later, and the connection stays up.
type canceledError struct {
	op, addr string
	sent     bool
	err      error
}

func canceled(op, addr string, sent bool, err error) error {
	return &canceledError{op: op, addr: addr, sent: sent, err: err}
}

func (e *canceledError) Error() string {
	if e.sent {
		return fmt.Sprintf("fleare: %s %s: request canceled after it was sent: %v", e.op, e.addr, e.err)
	}
	return fmt.Sprintf("fleare: %s %s: request canceled before it was sent: %v", e.op, e.addr, e.err)
}

// Unwrap returns the context's error.
func (e *canceledError) Unwrap() error { return e.err }

// SafeToRetry reports whether the request was never sent.
func (e *canceledError) SafeToRetry() bool { return !e.sent }
