package fleare

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

const (
	// readBufSize is each connection's read buffer: large enough for any
	// ordinary reply, small enough that idle connections stay cheap.
	readBufSize = 4 << 10
	// keepBufSize is the largest request or reply buffer a connection keeps
	// between requests; a bigger one is dropped after use.
	keepBufSize = 64 << 10
	// authRetries is how many times a dial is tried again when the server
	// drops the new connection before answering its auth frame, which the
	// real server does now and then right after other connections closed.
	authRetries = 2
	// authRetryDelay is the wait before the first such retry; it doubles.
	authRetryDelay = 20 * time.Millisecond
)

var longAgo = time.Unix(1, 0)

// Conn is one authenticated connection to a Fleare server. A Conn runs one
// request (or one pipeline) at a time: it must not be used by two goroutines
// at once, except for Close, which may be called at any time and makes a
// request in flight fail.
//
// A request whose context is canceled after it was sent returns at once
// and leaves the connection usable: the next request first reads and
// discards the abandoned reply (within its own deadline), so a late reply
// never reaches it. A request whose deadline passes, and any I/O or framing
// error, closes the connection: it reports Broken from then on. Before a
// request is sent, data that no request asked for (a stray reply from a
// faulty server) closes the connection, and the request fails unsent.
type Conn struct {
	nc          net.Conn
	br          *bufio.Reader
	addr        string
	clientID    string
	reqTimeout  time.Duration
	allowUnsafe bool
	closeKeys   []string      // the gates its close holds; none: closed at once
	spacing     time.Duration // its server's gate stays shut this long after its close
	interrupt   func()        // pokes the socket deadline into the past, then signals poked
	poked       chan struct{} // capacity 1
	onClosed    func()        // set before the Conn is shared; runs once the socket is closed
	done        chan struct{} // closed once the socket is closed
	closeErr    error         // the socket's Close error; read after done

	busy     atomic.Bool // held for the length of a request
	broken   atomic.Bool // fails every request from now on
	closed   atomic.Bool // closing: shut was called
	peerGone atomic.Bool // the server ended the stream or reset it

	// Owned by the goroutine holding busy.
	wbuf []byte
	rbuf []byte
	resp wire.Response
	fr   frameReader
	owed int // replies to canceled requests, still to be read and discarded
	peek peeker

	// Set by auth, for abandon.
	authSent  int  // bytes of the auth frame written
	handshook bool // the server answered the auth frame, or hung up
}

// Dial opens one connection to host:port and authenticates it, bounded by ctx
// and by o.ConnectTimeout. It uses o's Username, Password or PasswordFunc,
// ConnectTimeout, RequestTimeout (for Do without a context deadline),
// CloseSpacing, AllowUnsafeCommands and Dialer; the pool options are
// ignored. Like every dial in this package it passes through its server's
// gate (see the package documentation), so that connections to one server
// are opened one after another, and never while one is being closed.
func Dial(ctx context.Context, host string, port int, o Options) (*Conn, error) {
	if err := errors.Join(validateAddr(host, port), o.validate()); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	return dial(ctx, host, port, &o)
}

// dial resolves host, then dials through its server's gate. A dial the
// server drops before answering the auth frame is tried again, up to
// authRetries times, with a doubling delay.
func dial(ctx context.Context, host string, port int, o *Options) (*Conn, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	rctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	keys, addrs, err := gateKeys(rctx, host, port, o.Dialer != nil)
	rerr := rctx.Err() // before cancel, which would make it Canceled
	cancel()
	if err != nil {
		if rerr != nil {
			return nil, ctxFailure(rerr, "resolve", addr)
		}
		return nil, &ConnError{Op: "resolve", Addr: addr, Err: err}
	}
	delay := authRetryDelay
	for attempt := 0; ; attempt++ {
		c, err := dialGated(ctx, addr, keys, addrs, o)
		if err == nil {
			if err := afterConnect(ctx, c, o); err != nil {
				return nil, err
			}
			return c, nil
		}
		if attempt == authRetries || !cutShort(err) {
			return c, err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, err
		}
		delay *= 2
	}
}

// dialGated opens and authenticates one connection while holding the
// server's gate. A dial that fails after its socket is open is a close the
// server has not seen yet: the gate passes to abandon, which keeps it shut
// until the server has dropped that connection, then for the close spacing.
// A dial that fails before (nothing reached the server, or a connect that
// timed out and may have) releases the gate at once, or after the spacing.
func dialGated(ctx context.Context, addr string, keys []string, addrs []netip.AddrPort, o *Options) (*Conn, error) {
	job, err := enterGates(ctx, keys)
	if err != nil {
		return nil, ctxFailure(err, "dial", addr)
	}
	c, reached, err := connect(ctx, addr, keys, addrs, o)
	switch {
	case err == nil:
		job.leave(0)
		return c, nil
	case c != nil:
		go c.abandon(job, o.ConnectTimeout, o.CloseSpacing)
	case reached:
		job.leave(o.CloseSpacing)
	default:
		job.leave(0)
	}
	return nil, err
}

// connect dials and authenticates, bounded by ConnectTimeout. On error, c
// is the connection when its socket was opened, left open for the caller
// to abandon; reached reports that a connect that failed may still have
// reached the server (it timed out).
//
// The socket is opened with ctx's values but not its cancellation, only
// the connect deadline: a connect canceled half-way would close a socket
// the server may already have accepted, out of sight of the gate, while
// one opened can be abandoned properly. So a cancel during the connect
// waits for it, which takes a round trip (at most ConnectTimeout).
func connect(ctx context.Context, addr string, keys []string, addrs []netip.AddrPort, o *Options) (c *Conn, reached bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	pw, err := o.password()
	if err != nil {
		return nil, false, err
	}
	deadline, _ := dctx.Deadline()
	octx, ocancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	nc, dialed, err := openSocket(octx, addr, addrs, o.Dialer)
	oerr := octx.Err()
	ocancel()
	if err != nil {
		if oerr != nil {
			return nil, true, ctxFailure(oerr, "dial", addr)
		}
		return nil, false, &ConnError{Op: "dial", Addr: addr, Err: err}
	}
	c = newConn(nc, addr, o)
	c.closeKeys = keys
	if dialed.IsValid() {
		c.closeKeys = []string{dialed.String()} // only that server sees the close
	}
	if err := c.encodeAuth(o.Username, pw); err != nil {
		return c, true, err
	}
	if err := dctx.Err(); err != nil { // canceled while connecting: send nothing
		return c, true, ctxFailure(err, "dial", addr)
	}
	if err := c.auth(dctx, o.Username, pw); err != nil {
		return c, true, err
	}
	return c, true, nil
}

// abandon closes the socket of a dial that failed after connecting,
// holding job (the server's gate), and then releases the gate, shut for
// spacing. A server counts a handshake in progress until it has answered
// the auth frame, or read the end of the stream and dropped the
// connection, which a loaded server does some time after the client
// closed; a dial let in meanwhile would arrive during that handshake, and
// the real server strands it and wedges for good. So, unless the
// handshake is already over (a reply came, or the server hung up),
// abandon waits for its end before it closes: it ends its stream (a half
// close) and discards what the server sends until the server's end of
// stream; or, on a connection that cannot half close (a custom Dialer's),
// it finishes the handshake, writing the rest of the auth frame and
// reading the reply. It waits at most linger, for a server that is hung.
// It runs on its own goroutine, so that the failed dial returns at once.
func (c *Conn) abandon(job *gateJob, linger, spacing time.Duration) {
	if !c.handshook {
		_ = c.nc.SetDeadline(time.Now().Add(linger))
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			_, _ = c.br.WriteTo(io.Discard)
		} else if len(c.wbuf) > 0 {
			_, err := c.nc.Write(c.wbuf[c.authSent:])
			if err == nil {
				_, _ = c.fr.read(c.br, nil) // the reply, or an error: over either way
			}
		}
	}
	c.closeHeld()
	job.leave(spacing)
}

// openSocket connects with the Dialer to the address as written, or else
// to each resolved address in turn until one answers; dialed is the one
// that did.
func openSocket(ctx context.Context, addr string, addrs []netip.AddrPort, dialer func(context.Context, string, string) (net.Conn, error)) (nc net.Conn, dialed netip.AddrPort, err error) {
	if dialer != nil {
		nc, err = dialer(ctx, "tcp", addr)
		return nc, netip.AddrPort{}, err
	}
	d := net.Dialer{KeepAlive: 15 * time.Second}
	for _, a := range addrs {
		if nc, err = d.DialContext(ctx, "tcp", a.String()); err == nil {
			return nc, a, nil
		}
	}
	return nil, netip.AddrPort{}, err
}

func newConn(nc net.Conn, addr string, o *Options) *Conn {
	c := &Conn{
		nc:          nc,
		addr:        addr,
		reqTimeout:  o.RequestTimeout,
		allowUnsafe: o.AllowUnsafeCommands,
		spacing:     o.CloseSpacing,
		poked:       make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	if nc != nil {
		c.br = bufio.NewReaderSize(nc, readBufSize)
	}
	c.interrupt = func() {
		c.poke()
		c.poked <- struct{}{}
	}
	return c
}

// ctxFailure turns a context error met outside a request into a typed error.
func ctxFailure(err error, op, addr string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &TimeoutError{Op: op, Addr: addr}
	}
	return &ConnError{Op: op, Addr: addr, Err: err}
}

// cutShort reports whether a dial failed because the server dropped the
// connection before answering its auth frame.
func cutShort(err error) bool {
	var ce *ConnError
	return errors.As(err, &ce) && ce.Op == "auth" && peerHungUp(ce.Err)
}

// peerHungUp reports whether err means the server closed or reset the
// connection.
func peerHungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// encodeAuth puts the authentication frame in the write buffer.
func (c *Conn) encodeAuth(username, password string) error {
	var args []string
	if username != "" || password != "" {
		args = []string{username, password}
	}
	if err := c.encode("auth", args); err != nil {
		c.wbuf = c.wbuf[:0]
		return errors.New("fleare: auth: username or password cannot be encoded (not valid UTF-8?)")
	}
	return nil
}

// auth sends the authentication frame encodeAuth made and checks the
// reply.
func (c *Conn) auth(ctx context.Context, username, password string) error {
	deadline, _ := ctx.Deadline()
	c.busy.Store(true)
	defer c.busy.Store(false)
	stop := c.arm(ctx, deadline)
	n, err := c.nc.Write(c.wbuf)
	c.authSent = n
	sent := n > 0
	if err == nil {
		sent = true
		err = c.readFrame()
	}
	c.handshook = err == nil || peerHungUp(err)
	c.disarm(stop)
	if err != nil { // the caller abandons the socket, holding the gate
		return c.classify(ctx, "auth", sent, false, err)
	}
	c.clientID = c.resp.GetClientId()
	if c.resp.GetStatus() == "Error" {
		msg := redact(strings.TrimSpace(string(c.resp.GetResult())), password)
		return &AuthError{Addr: c.addr, Username: username, Message: msg}
	}
	if c.br.Buffered() > 0 {
		return &ConnError{Op: "auth", Addr: c.addr, Sent: true, Err: errStray}
	}
	return nil
}

// Addr returns the host:port this connection was dialed to.
func (c *Conn) Addr() string { return c.addr }

// ClientID returns the identifier the server gave this connection at
// authentication ("<fd>-<ip>:<port>" on the real server).
func (c *Conn) ClientID() string { return c.clientID }

// Broken reports whether the connection failed or was closed; a broken Conn
// fails every request.
func (c *Conn) Broken() bool { return c.broken.Load() }

// Close closes the connection through its server's gate: a request in
// flight is interrupted at once (it fails with a *ConnError), and Close
// returns once the socket is closed, which waits for the dial or close
// holding the gate and the closes queued before it (each bounded). It is
// safe to call at any time and more than once.
func (c *Conn) Close() error {
	c.shut()
	<-c.done
	return c.closeErr
}

// shut starts closing the connection without waiting: it fails every
// request from now on, interrupts the one in flight, and queues the
// socket's close on its server's gate (or closes it at once when the server
// already hung up). onClosed runs once the socket is closed.
func (c *Conn) shut() {
	c.broken.Store(true)
	if c.closed.Swap(true) {
		return
	}
	if c.nc == nil {
		c.finishClose()
		return
	}
	c.poke()
	if c.peerGone.Load() || len(c.closeKeys) == 0 {
		c.finishClose()
		return
	}
	queueClose(c.closeKeys, c.spacing, c.finishClose)
}

// kill is shut, named for the call sites that drop a connection.
func (c *Conn) kill() { c.shut() }

// closeHeld closes the socket at once: the caller holds the server's gate.
func (c *Conn) closeHeld() {
	c.broken.Store(true)
	if !c.closed.Swap(true) {
		c.finishClose()
	}
}

func (c *Conn) finishClose() {
	if c.nc != nil {
		c.closeErr = c.nc.Close()
	}
	close(c.done)
	if c.onClosed != nil {
		c.onClosed()
	}
}

func (c *Conn) poke() { _ = c.nc.SetDeadline(longAgo) }
