package fleare

import (
	"context"
	"fmt"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// A Conn also works as a stream, for pub/sub: Send writes a command without
// waiting for a reply (SUBSCRIBE and UNSUBSCRIBE get none), and Receive
// reads the next frame, a push or a reply, as it comes. On a subscribed
// connection pushes arrive between the replies to the commands sent on it,
// so keep such a connection apart from pooled ones.

// Message is one frame read by Receive: a pub/sub push when Topic is set,
// otherwise the reply to a command sent on the connection.
type Message struct {
	Reply
	// Topic is the channel a push was published to; "" for a reply.
	Topic string
}

// Send writes one command and returns once it is written, without reading
// anything. It honours ctx's deadline and cancellation, and RequestTimeout
// when ctx has no earlier deadline; a failure closes the connection.
//
// Send and Receive may run at the same time, one goroutine each; neither
// may run at the same time as Do, Exec, Pipeline, Ping or Status (Send
// fails then, Receive must not be called), and a Conn that was given to
// Receive should not be used for those any more: a push would fail them.
func (c *Conn) Send(ctx context.Context, command string, args ...string) error {
	if !c.busy.CompareAndSwap(false, true) {
		return errConcurrentUse
	}
	defer c.busy.Store(false)
	if err := c.usable(ctx, command); err != nil {
		return err
	}
	if err := c.encode(command, args); err != nil {
		return err
	}
	_ = c.nc.SetWriteDeadline(requestDeadline(ctx, time.Now(), c.reqTimeout))
	stop := c.armSide(ctx, c.nc.SetWriteDeadline)
	var err error
	if n, werr := c.nc.Write(c.wbuf); werr != nil {
		err = c.fail(ctx, "write", n > 0, werr)
	}
	if stop != nil && !stop() {
		c.kill() // the interrupt may have hit the socket
	}
	if cap(c.wbuf) > keepBufSize {
		c.wbuf = nil
	}
	return err
}

// Receive reads the next frame from the connection: a push or a reply. It
// waits as long as ctx allows (without a deadline when ctx has none); when
// ctx ends or the read fails the connection is closed and a *ConnError or
// *TimeoutError returned. Close makes a waiting Receive return. The
// Message's Result belongs to the caller.
func (c *Conn) Receive(ctx context.Context) (Message, error) {
	if c.broken.Load() {
		return Message{}, &ConnError{Op: "read", Addr: c.addr, Err: errAlreadyBroken}
	}
	deadline, _ := ctx.Deadline() // zero: no deadline
	_ = c.nc.SetReadDeadline(deadline)
	stop := c.armSide(ctx, c.nc.SetReadDeadline)
	defer func() {
		if stop != nil && !stop() {
			c.kill()
		}
	}()
	body, err := wire.ReadFrame(c.br, c.rbuf)
	c.rbuf = body[:0]
	if cap(c.rbuf) > keepBufSize {
		c.rbuf = nil
	}
	if err != nil {
		return Message{}, c.fail(ctx, "read", true, err)
	}
	var resp wire.Response
	if err := wire.DecodeResponse(body, &resp); err != nil {
		return Message{}, c.fail(ctx, "read", true, fmt.Errorf("invalid response: %w", err))
	}
	return Message{
		Reply: Reply{Status: resp.GetStatus(), Result: resp.GetResult(), ClientID: resp.GetClientId()},
		Topic: resp.GetTopic(),
	}, nil
}

// armSide makes ctx cancellation interrupt one direction of the socket, by
// moving that direction's deadline into the past.
func (c *Conn) armSide(ctx context.Context, set func(time.Time) error) (stop func() bool) {
	if ctx.Done() == nil {
		return nil
	}
	return context.AfterFunc(ctx, func() { _ = set(longAgo) })
}
