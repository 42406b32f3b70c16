package fleare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

var (
	errEmptyCommand   = errors.New("fleare: empty command (it would encode to a zero-length frame)")
	errConcurrentUse  = errors.New("fleare: Conn used by two goroutines at once")
	errAlreadyBroken  = errors.New("connection already closed")
	errUnexpectedPush = errors.New("unexpected pub/sub message on a request connection")
	errStray          = errors.New("data no request asked for (a stray reply) on the connection")
	errPeerGone       = errors.New("the server closed the connection")
	zeroTime          time.Time
)

// Do sends one command and returns the result of its "Ok" reply, or a
// *ServerError for an "Error" reply. It honours ctx's deadline and
// cancellation, and RequestTimeout when ctx has no earlier deadline. The
// result belongs to the caller; an empty result may be nil. Commands that
// can kill the server are refused with ErrUnsafeCommand unless
// AllowUnsafeCommands was set.
func (c *Conn) Do(ctx context.Context, command string, args ...string) ([]byte, error) {
	r, err := c.Exec(ctx, command, args...)
	return r.value(command, err)
}

// Exec sends one command and returns the server's reply as it came, an
// "Error" reply included; the error is for the request failing (as with Do),
// never for the reply's status.
func (c *Conn) Exec(ctx context.Context, command string, args ...string) (Reply, error) {
	if !c.allowUnsafe && IsUnsafe(command) {
		return Reply{}, unsafeError(command)
	}
	return c.exec(ctx, requestDeadline(ctx, time.Now(), c.reqTimeout), command, args, true)
}

func requestDeadline(ctx context.Context, now time.Time, timeout time.Duration) time.Time {
	d := now.Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// exec runs one request. check makes it look for data no request asked
// for before sending (the pool looks when it lends the connection).
func (c *Conn) exec(ctx context.Context, deadline time.Time, command string, args []string, check bool) (Reply, error) {
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
	if err := c.checkIdle(check); err != nil {
		return Reply{}, err
	}
	stop := c.arm(ctx, deadline)
	if c.owed > 0 {
		if err := c.settle(ctx); err != nil {
			c.disarm(stop)
			return Reply{}, err
		}
	}
	n, err := c.nc.Write(c.wbuf)
	if err != nil {
		c.disarm(stop)
		return Reply{}, c.writeFailed(ctx, n, err)
	}
	err = c.readReply(ctx, 1)
	c.disarm(stop)
	if err != nil {
		return Reply{}, err
	}
	return c.reply(), nil
}

// checkIdle, when check is set, makes sure the connection holds nothing no
// request asked for before a request is sent, and closes it if it does.
// With replies of canceled requests still owed, that data is expected:
// settle reads them and checks what it has read.
func (c *Conn) checkIdle(check bool) error {
	if !check || c.owed > 0 {
		return nil
	}
	if err := c.idleErr(); err != nil {
		c.kill()
		return &ConnError{Op: "write", Addr: c.addr, Err: err}
	}
	return nil
}

// settle reads and discards the replies of canceled requests, within the
// socket deadline already set. A cancellation leaves the rest owed;
// anything else closes the connection.
func (c *Conn) settle(ctx context.Context) error {
	for c.owed > 0 {
		body, err := c.fr.read(c.br, c.rbuf)
		if err != nil {
			if c.interrupted(ctx, err) {
				return canceled("read", c.addr, false, ctx.Err())
			}
			return c.fail(ctx, "read", false, fmt.Errorf("reading the reply of a canceled request: %w", err))
		}
		c.rbuf = body[:0]
		c.owed--
	}
	if c.br.Buffered() > 0 {
		return c.fail(ctx, "read", false, errStray)
	}
	return nil
}

// drainOwed reads and discards the replies of canceled requests by
// deadline, for a pool that keeps the connection out of use meanwhile.
func (c *Conn) drainOwed(deadline time.Time) error {
	if !c.busy.CompareAndSwap(false, true) {
		return errConcurrentUse
	}
	defer c.busy.Store(false)
	_ = c.nc.SetDeadline(deadline)
	if c.closed.Load() {
		c.poke()
	}
	return c.settle(context.Background())
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
	dst, err := wire.AppendCommand(dst, command, args)
	if err != nil {
		return dst, fmt.Errorf("fleare: %s: request not sent: %w", command, err)
	}
	return dst, nil
}

// arm sets the socket deadline and makes ctx cancellation interrupt I/O.
func (c *Conn) arm(ctx context.Context, deadline time.Time) (stop func() bool) {
	_ = c.nc.SetDeadline(deadline)
	if c.closed.Load() {
		c.poke() // Close's interrupt may have come before the deadline above
	}
	if ctx.Done() == nil {
		return nil
	}
	return context.AfterFunc(ctx, c.interrupt)
}

// disarm undoes arm. An interrupt that already started is waited for, so
// that it cannot hit the next request; the next request sets its own
// deadline.
func (c *Conn) disarm(stop func() bool) {
	if stop != nil && !stop() {
		<-c.poked
	}
	if cap(c.wbuf) > keepBufSize {
		c.wbuf = nil
	}
	if cap(c.rbuf) > keepBufSize {
		c.rbuf = nil
	}
}

// writeFailed classifies a failed write of n bytes. A write that a
// cancellation interrupted before any byte went out leaves the connection
// as it was; one cut in the middle of a frame cannot be resumed.
func (c *Conn) writeFailed(ctx context.Context, n int, err error) error {
	if n == 0 && c.interrupted(ctx, err) {
		return canceled("write", c.addr, false, ctx.Err())
	}
	return c.fail(ctx, "write", n > 0, err)
}

// readReply reads the reply of the request just sent, the last of want
// requests. A cancellation leaves the connection up, owing want replies
// (the one being read included). Bytes left after the reply mean a frame
// no request asked for arrived with it, and it may have come first: the
// reply cannot be trusted, and the connection is closed.
func (c *Conn) readReply(ctx context.Context, want int) error {
	if err := c.readFrame(); err != nil {
		if c.interrupted(ctx, err) {
			c.owed += want
			return canceled("read", c.addr, true, ctx.Err())
		}
		return c.fail(ctx, "read", true, err)
	}
	if want == 1 && c.br.Buffered() > 0 {
		return c.fail(ctx, "read", true, errStray)
	}
	return nil
}

// readFrame reads one reply into c.resp.
func (c *Conn) readFrame() error {
	body, err := c.fr.read(c.br, c.rbuf)
	if err != nil {
		return err
	}
	c.rbuf = body[:0]
	if err := wire.DecodeResponse(body, &c.resp); err != nil {
		return fmt.Errorf("invalid response: %w", err)
	}
	if c.resp.GetTopic() != "" {
		return errUnexpectedPush
	}
	return nil
}

// interrupted reports whether err is the interrupt of a canceled context
// (not a deadline, not Close) on a connection still in step.
func (c *Conn) interrupted(ctx context.Context, err error) bool {
	return !c.closed.Load() && errors.Is(err, os.ErrDeadlineExceeded) &&
		errors.Is(ctx.Err(), context.Canceled)
}

// fail closes the connection and classifies err.
func (c *Conn) fail(ctx context.Context, op string, sent bool, err error) error {
	closedHere := c.closed.Load()
	if peerHungUp(err) {
		c.peerGone.Store(true)
	}
	c.kill()
	return c.classify(ctx, op, sent, closedHere, err)
}

// classify turns an I/O error into the error a caller sees.
func (c *Conn) classify(ctx context.Context, op string, sent, closedHere bool, err error) error {
	switch cerr := ctx.Err(); {
	case closedHere:
		return &ConnError{Op: op, Addr: c.addr, Sent: sent, Err: net.ErrClosed}
	case errors.Is(cerr, context.DeadlineExceeded):
		return &TimeoutError{Op: op, Addr: c.addr, Sent: sent}
	case cerr != nil:
		return canceled(op, c.addr, sent, cerr)
	case errors.Is(err, os.ErrDeadlineExceeded):
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
// the error return is for the connection failing (which breaks it), for
// the context ending (a cancellation leaves the connection up, and the
// unread replies are discarded by the next request), or for a request that
// cannot be encoded or is refused by the guard (nothing is sent then).
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
	if err := c.encodeAll(reqs); err != nil {
		return nil, err
	}
	if err := c.checkIdle(true); err != nil {
		return nil, err
	}
	stop := c.arm(ctx, requestDeadline(ctx, time.Now(), c.reqTimeout))
	defer c.disarm(stop)
	if c.owed > 0 {
		if err := c.settle(ctx); err != nil {
			return nil, err
		}
	}
	if n, err := c.nc.Write(c.wbuf); err != nil {
		return nil, c.writeFailed(ctx, n, err)
	}
	out := make([]Result, len(reqs))
	for i, r := range reqs {
		if err := c.readReply(ctx, len(reqs)-i); err != nil {
			return nil, err
		}
		out[i].Value, out[i].Err = c.reply().value(r.Command, nil)
	}
	return out, nil
}

// encodeAll puts every request, framed, into wbuf.
func (c *Conn) encodeAll(reqs []Request) error {
	buf := c.wbuf[:0]
	for _, r := range reqs {
		if r.Command == "" {
			return errEmptyCommand
		}
		if !c.allowUnsafe && IsUnsafe(r.Command) {
			return unsafeError(r.Command)
		}
		var err error
		if buf, err = c.appendCommand(buf, r.Command, r.Args); err != nil {
			c.wbuf = buf[:0]
			return err
		}
	}
	c.wbuf = buf
	return nil
}
