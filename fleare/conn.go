package fleare

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

const (
	// readBufSize is each connection's read buffer: large enough for any
	// ordinary reply, small enough that idle connections stay cheap.
	readBufSize = 4 << 10
	// keepBufSize is the largest request or reply buffer a connection keeps
	// between requests; a bigger one is dropped after use.
	keepBufSize = 64 << 10
)

var (
	errEmptyCommand   = errors.New("fleare: empty command (it would encode to a zero-length frame)")
	errConcurrentUse  = errors.New("fleare: Conn used by two goroutines at once")
	errAlreadyBroken  = errors.New("connection already closed")
	errUnexpectedPush = errors.New("unexpected pub/sub message on a request connection")
	longAgo           = time.Unix(1, 0)
)

// Conn is one authenticated connection to a Fleare server. A Conn runs one
// request (or one pipeline) at a time: it must not be used by two goroutines
// at once, except for Close, which may be called at any time and makes a
// request in flight fail. After any I/O error, framing error, timeout or
// cancellation mid-request the Conn is closed and reports Broken; a late
// reply can therefore never be read by a later request.
type Conn struct {
	nc         net.Conn
	br         *bufio.Reader
	addr       string
	clientID   string
	reqTimeout time.Duration
	interrupt  func() // pokes the socket deadline into the past; set once

	busy   atomic.Bool // held for the length of a request
	broken atomic.Bool
	closed atomic.Bool

	// Owned by the goroutine holding busy.
	wbuf []byte
	rbuf []byte
	cmd  wire.Command
	resp wire.Response
}

// Dial opens one connection to host:port and authenticates it, bounded by ctx
// and by o.ConnectTimeout. It uses o's Username, Password or PasswordFunc,
// ConnectTimeout, RequestTimeout (for Do without a context deadline) and
// Dialer; the pool options are ignored. Like every dial in this package it
// waits for the process-wide gate of its address, so that connections to one
// server are opened one after another.
func Dial(ctx context.Context, host string, port int, o Options) (*Conn, error) {
	if err := errors.Join(validateAddr(host, port), o.validate()); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	return dial(ctx, net.JoinHostPort(host, strconv.Itoa(port)), &o)
}

func dial(ctx context.Context, addr string, o *Options) (*Conn, error) {
	release, err := acquireGate(ctx, addr)
	if err != nil {
		return nil, ctxFailure(err, "dial", addr)
	}
	defer release()
	dctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	pw, err := o.password()
	if err != nil {
		return nil, err
	}
	dialFn := o.Dialer
	if dialFn == nil {
		dialFn = (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext
	}
	nc, err := dialFn(dctx, "tcp", addr)
	if err != nil {
		if dctx.Err() != nil {
			return nil, ctxFailure(dctx.Err(), "dial", addr)
		}
		return nil, &ConnError{Op: "dial", Addr: addr, Err: err}
	}
	c := newConn(nc, addr, o.RequestTimeout)
	if err := c.auth(dctx, o.Username, pw); err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

func newConn(nc net.Conn, addr string, reqTimeout time.Duration) *Conn {
	c := &Conn{nc: nc, addr: addr, reqTimeout: reqTimeout}
	if nc != nil {
		c.br = bufio.NewReaderSize(nc, readBufSize)
	}
	c.interrupt = c.poke
	return c
}

// ctxFailure turns a context error met outside a request into a typed error.
func ctxFailure(err error, op, addr string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &TimeoutError{Op: op, Addr: addr}
	}
	return &ConnError{Op: op, Addr: addr, Err: err}
}

// auth sends the authentication frame and checks the reply.
func (c *Conn) auth(ctx context.Context, username, password string) error {
	var args []string
	if username != "" || password != "" {
		args = []string{username, password}
	}
	deadline, _ := ctx.Deadline()
	c.busy.Store(true)
	defer c.busy.Store(false)
	if err := c.encode("auth", args); err != nil {
		return errors.New("fleare: auth: username or password cannot be encoded (not valid UTF-8?)")
	}
	stop := c.arm(ctx, deadline)
	err := c.write(ctx)
	if err == nil {
		err = c.read(ctx)
	}
	c.disarm(stop)
	if err != nil {
		return opAuth(err)
	}
	c.clientID = c.resp.GetClientId()
	if c.resp.GetStatus() == "Error" {
		msg := redact(strings.TrimSpace(string(c.resp.GetResult())), password)
		return &AuthError{Addr: c.addr, Username: username, Message: msg}
	}
	return nil
}

// opAuth labels an I/O failure during authentication as such.
func opAuth(err error) error {
	var te *TimeoutError
	var ce *ConnError
	switch {
	case errors.As(err, &te):
		te.Op = "auth"
	case errors.As(err, &ce):
		ce.Op = "auth"
	}
	return err
}

// Addr returns the host:port this connection was dialed to.
func (c *Conn) Addr() string { return c.addr }

// ClientID returns the identifier the server gave this connection at
// authentication ("<fd>-<ip>:<port>" on the real server).
func (c *Conn) ClientID() string { return c.clientID }

// Broken reports whether the connection failed or was closed; a broken Conn
// fails every request.
func (c *Conn) Broken() bool { return c.broken.Load() }

// Close closes the connection. It is safe to call at any time and more than
// once; a request in flight fails with a *ConnError.
func (c *Conn) Close() error {
	c.broken.Store(true)
	if c.closed.Swap(true) || c.nc == nil {
		return nil
	}
	return c.nc.Close()
}

func (c *Conn) kill() { _ = c.Close() }

func (c *Conn) poke() { _ = c.nc.SetDeadline(longAgo) }

// Do sends one command and returns the result of its "Ok" reply, or a
// *ServerError for an "Error" reply. It honours ctx's deadline and
// cancellation, and RequestTimeout when ctx has no earlier deadline. The
// result belongs to the caller; an empty result may be nil.
func (c *Conn) Do(ctx context.Context, command string, args ...string) ([]byte, error) {
	r, err := c.exec(ctx, requestDeadline(ctx, time.Now(), c.reqTimeout), command, args)
	return r.value(command, err)
}

// Exec sends one command and returns the server's reply as it came, an
// "Error" reply included; the error is for the request failing (as with Do),
// never for the reply's status.
func (c *Conn) Exec(ctx context.Context, command string, args ...string) (Reply, error) {
	return c.exec(ctx, requestDeadline(ctx, time.Now(), c.reqTimeout), command, args)
}

func requestDeadline(ctx context.Context, now time.Time, timeout time.Duration) time.Time {
	d := now.Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

func (c *Conn) exec(ctx context.Context, deadline time.Time, command string, args []string) (Reply, error) {
	if !c.busy.CompareAndSwap(false, true) {
		return Reply{}, errConcurrentUse
	}
	defer c.busy.Store(false)
	if err := c.usable(ctx, command); err != nil {
		return Reply{}, err
	}
	if err := c.encode(command, args); err != nil {
		return Reply{}, err
	}
	stop := c.arm(ctx, deadline)
	if err := c.write(ctx); err != nil {
		c.disarm(stop)
		return Reply{}, err
	}
	err := c.read(ctx)
	c.disarm(stop)
	if err != nil {
		return Reply{}, err
	}
	return c.reply(), nil
}

// usable fails, without sending anything, a request on a broken connection
// or with a context that has already ended.
func (c *Conn) usable(ctx context.Context, command string) error {
	if c.broken.Load() {
		return &ConnError{Op: "write", Addr: c.addr, Err: errAlreadyBroken}
	}
	if err := ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return &TimeoutError{Op: "write", Addr: c.addr}
		}
		return notSent{fmt.Errorf("fleare: %s %s: request not sent: %w", command, c.addr, err)}
	}
	if command == "" {
		return errEmptyCommand
	}
	return nil
}

// encode puts one framed command into wbuf.
func (c *Conn) encode(command string, args []string) error {
	var err error
	c.wbuf, err = c.appendCommand(c.wbuf[:0], command, args)
	return err
}

// appendCommand appends one framed command to dst.
func (c *Conn) appendCommand(dst []byte, command string, args []string) ([]byte, error) {
	c.cmd.Command, c.cmd.Args = command, args
	dst, err := wire.AppendFrame(dst, &c.cmd)
	c.cmd.Command, c.cmd.Args = "", nil // keep no reference to the caller's data
	if err != nil {
		return dst, fmt.Errorf("fleare: %s: request not sent: %w", command, err)
	}
	return dst, nil
}

// arm sets the socket deadline and makes ctx cancellation interrupt I/O.
func (c *Conn) arm(ctx context.Context, deadline time.Time) (stop func() bool) {
	_ = c.nc.SetDeadline(deadline)
	if ctx.Done() == nil {
		return nil
	}
	return context.AfterFunc(ctx, c.interrupt)
}

// disarm undoes arm. When the context ended during the request its
// interrupt may have hit the socket; the connection is then dropped even if
// the reply arrived, since its deadline can no longer be trusted.
func (c *Conn) disarm(stop func() bool) {
	if stop != nil && !stop() {
		c.kill()
	}
	if cap(c.wbuf) > keepBufSize {
		c.wbuf = nil
	}
	if cap(c.rbuf) > keepBufSize {
		c.rbuf = nil
	}
}

func (c *Conn) write(ctx context.Context) error {
	n, err := c.nc.Write(c.wbuf)
	if err != nil {
		return c.fail(ctx, "write", n > 0, err)
	}
	return nil
}

// read reads one reply into c.resp.
func (c *Conn) read(ctx context.Context) error {
	body, err := wire.ReadFrame(c.br, c.rbuf)
	c.rbuf = body[:0]
	if err != nil {
		return c.fail(ctx, "read", true, err)
	}
	if err := proto.Unmarshal(body, &c.resp); err != nil {
		return c.fail(ctx, "read", true, fmt.Errorf("invalid response: %w", err))
	}
	if c.resp.GetTopic() != "" {
		return c.fail(ctx, "read", true, errUnexpectedPush)
	}
	return nil
}

// fail closes the connection and classifies err.
func (c *Conn) fail(ctx context.Context, op string, sent bool, err error) error {
	c.kill()
	if cerr := ctx.Err(); cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return &TimeoutError{Op: op, Addr: c.addr, Sent: sent}
		}
		return &ConnError{Op: op, Addr: c.addr, Sent: sent, Err: cerr}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &TimeoutError{Op: op, Addr: c.addr, Sent: sent}
	}
	return &ConnError{Op: op, Addr: c.addr, Sent: sent, Err: err}
}

// Reply is one reply as the server sent it.
type Reply struct {
	// Status is "Ok" or "Error".
	Status string
	// Result is the value of an "Ok" reply, or the message of an "Error"
	// reply, untouched (the real server often ends it with a newline).
	Result []byte
	// ClientID is the client id the reply carried: the connection's on most
	// replies, "" on the real server's "Ok" replies to SET, GET and DELETE.
	ClientID string
}

// value returns r as Do does: the result of an "Ok" reply, or a
// *ServerError for an "Error" reply; err, when not nil, passes through.
func (r Reply) value(command string, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	if r.Status == "Error" {
		return nil, &ServerError{Command: command, Message: strings.TrimRight(string(r.Result), " \t\r\n")}
	}
	return r.Result, nil
}

// reply takes the reply out of c.resp.
func (c *Conn) reply() Reply {
	r := Reply{Status: c.resp.Status, Result: c.resp.Result, ClientID: c.resp.ClientId}
	c.resp.Result = nil
	return r
}

// result takes the reply's result out of c.resp, as Do returns it.
func (c *Conn) result(command string) ([]byte, error) {
	return c.reply().value(command, nil)
}

// Request is one command of a pipeline.
type Request struct {
	Command string
	Args    []string
}

// Result is the outcome of one pipelined command: Value for an "Ok" reply,
// or Err (a *ServerError) for an "Error" reply.
type Result struct {
	Value []byte
	Err   error
}

// Pipeline writes every request at once, then reads the replies, which the
// server sends in order. A server "Error" reply is reported in its Result;
// the error return is for the connection failing (which breaks it) or for a
// request that cannot be encoded (nothing is sent then).
func (c *Conn) Pipeline(ctx context.Context, reqs []Request) ([]Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	if !c.busy.CompareAndSwap(false, true) {
		return nil, errConcurrentUse
	}
	defer c.busy.Store(false)
	if err := c.usable(ctx, "pipeline"); err != nil {
		return nil, err
	}
	buf := c.wbuf[:0]
	for _, r := range reqs {
		if r.Command == "" {
			return nil, errEmptyCommand
		}
		var err error
		if buf, err = c.appendCommand(buf, r.Command, r.Args); err != nil {
			c.wbuf = buf[:0]
			return nil, err
		}
	}
	c.wbuf = buf
	stop := c.arm(ctx, requestDeadline(ctx, time.Now(), c.reqTimeout))
	defer c.disarm(stop)
	if err := c.write(ctx); err != nil {
		return nil, err
	}
	out := make([]Result, len(reqs))
	for i, r := range reqs {
		if err := c.read(ctx); err != nil {
			return nil, err
		}
		out[i].Value, out[i].Err = c.result(r.Command)
	}
	return out, nil
}
