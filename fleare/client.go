package fleare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Client is a pool of connections to one Fleare server. It is safe for
// concurrent use. Create it with NewClient, open it with Connect, and always
// Close it: Close joins the Client's background goroutine.
//
// The pool dials in one background goroutine, one connection after another
// (and, through a process-wide gate per server, never at the same time as
// another dial or a close to that server, whatever name it is reached by;
// see the package documentation). Failed dials are retried with jittered
// exponential backoff; broken connections are closed and replaced; idle
// ones are checked every HealthCheckInterval. The size changes live with
// Resize.
type Client struct {
	host        string
	port        int
	addr        string
	initErr     error          // invalid host, port or options; returned by Connect
	pipelined   bool           // Options.Pipeline > 1, fixed at NewClient
	pipes       sync.WaitGroup // pipelined connections' reader and writer goroutines
	bg          sync.WaitGroup // goroutines reading the replies of canceled requests
	allowUnsafe atomic.Bool    // Options.AllowUnsafeCommands
	reqTimeout  atomic.Int64   // Options.RequestTimeout in ns, read by every request
	waitNanos   atomic.Int64   // total time requests spent waiting for a connection
	emitMu      sync.Mutex     // serialises event delivery

	mu sync.Mutex
	// Everything below is guarded by mu.
	opts      Options // defaults applied
	state     State
	started   bool // Connect was called
	closing   bool // Close was called
	desired   int
	open      int // connections in all: idle, in use, or being checked
	dialing   int
	sockets   int      // connections dialed whose socket is not closed yet
	checking  int      // idle connections out of idle for a health check
	idle      []*pconn // stack: the most recently used on top; empty when pipelined
	all       map[*pconn]struct{}
	shared    []*pconn  // pipelined: connections taking requests
	waiters   waitQueue // callers waiting for a connection, oldest first
	streak    int       // dial failures since the last successful dial
	lastErr   error
	lastErrAt time.Time
	replacing int  // connections lost and not yet replaced
	sweep     bool // a health check of idle connections is wanted
	changed   chan struct{}
	events    []Event
	counters  counters
	cancel    context.CancelFunc // stops the maintainer
	maintDone chan struct{}      // closed when the maintainer has returned
	closeDone chan struct{}      // closed when Close has finished
	hc        *hcEntry           // the Client's place in the health checker, from Connect

	wake chan struct{} // capacity 1: pokes the maintainer

	ctl control // Pause, Resume, Reconnect (control.go); guarded by mu but for ctl.paused

	// Pipelined: the slots each waiting batch wants, then was handed
	// (batch.go). Guarded by mu.
	batchWant map[chan handoff]int
}

// NewClient returns a Client for the server at host:port. It does not dial:
// call Connect. Invalid arguments are reported by Connect. o is copied; the
// caller's value is never modified.
func NewClient(host string, port int, o Options) *Client {
	c := &Client{
		host:    host,
		port:    port,
		addr:    net.JoinHostPort(host, strconv.Itoa(port)),
		initErr: errors.Join(validateAddr(host, port), o.validate()),
		opts:    o.withDefaults(),
		all:     make(map[*pconn]struct{}),
		changed: make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	c.desired = c.opts.PoolSize
	c.pipelined = c.opts.Pipeline > 1
	c.reqTimeout.Store(int64(c.opts.RequestTimeout))
	c.allowUnsafe.Store(c.opts.AllowUnsafeCommands)
	return c
}

// Addr returns the server's host:port.
func (c *Client) Addr() string { return c.addr }

// State returns the current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Connect starts the pool and waits, as long as ctx allows, until it holds
// PoolSize connections. It returns an error when 1+MaxRetries dials in a row
// fail (wrapping the last dial error, e.g. an *AuthError); the Client keeps
// dialing in the background with backoff, and is in state error if no
// connection is open. When ctx ends first, Connect returns its error and the
// pool goes on filling. Calling Connect again waits again; after Close it
// returns ErrClosed.
func (c *Client) Connect(ctx context.Context) error {
	if c.initErr != nil {
		return c.initErr
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	if !c.started {
		c.started = true
		mctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		c.maintDone = make(chan struct{})
		c.transitionLocked(StateConnecting, EventConnecting)
		c.hc = checker.add(c, c.opts.HealthCheckInterval)
		go c.maintain(mctx)
	}
	c.unlock()
	return c.waitConnected(ctx)
}

func (c *Client) waitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		switch {
		case c.closing:
			c.mu.Unlock()
			return ErrClosed
		case c.open >= c.desired:
			c.mu.Unlock()
			return nil
		case c.streak >= 1+c.opts.MaxRetries:
			err := fmt.Errorf("fleare: connect to %s: %d dial attempt(s) in a row failed (%d of %d connections open): %w",
				c.addr, c.streak, c.open, c.desired, c.lastErr)
			c.mu.Unlock()
			return err
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fleare: connect to %s: waiting for the pool to fill: %w", c.addr, ctx.Err())
		}
	}
}

// signalChangedLocked wakes everything waiting on the pool's counts.
func (c *Client) signalChangedLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// wakeLocked pokes the maintainer without blocking.
func (c *Client) wakeLocked() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Close shuts the Client down. Waiting callers fail at once with ErrClosed,
// idle connections are closed, and new requests fail with ErrClosed.
// Requests in flight may finish until ctx ends; then their connections are
// closed under them (they fail with a *ConnError) and Close returns a
// *CloseError saying how many. Close joins the background goroutines,
// then waits until every socket it opened is closed: closes to one server
// go through its gate one at a time, so this takes CloseSpacing per
// connection, plus at most a dial holding the gate (bounded by twice its
// ConnectTimeout: a dial abandoned after connecting holds the gate until
// the server dropped it) and the closes queued before, whatever ctx says. It
// emits close, and is idempotent: a second call waits for the first to
// finish and returns nil.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closing {
		done := c.closeDone
		c.mu.Unlock()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("fleare: close %s: %w", c.addr, ctx.Err())
		}
	}
	idle := c.beginCloseLocked()
	cancel, maintDone, hc := c.cancel, c.maintDone, c.hc
	c.unlock()
	if hc != nil {
		checker.remove(hc)
	}

	for _, pc := range idle {
		pc.conn.kill()
	}
	if cancel != nil {
		cancel()
		<-maintDone
	}
	forced := c.drain(ctx)
	c.pipes.Wait()
	c.bg.Wait()
	c.waitSockets()

	c.mu.Lock()
	c.transitionLocked(StateDisconnected)
	c.emitLocked(EventClose, nil)
	close(c.closeDone)
	c.unlock()
	if forced > 0 {
		return &CloseError{Forced: forced, Err: ctx.Err()}
	}
	return nil
}

// waitSockets waits until every connection the Client dialed has its
// socket closed. Closes go through their server's gate, one at a time and
// spaced, so this takes CloseSpacing per connection, plus at most the
// dial holding the gate and the closes queued before.
func (c *Client) waitSockets() {
	for {
		c.mu.Lock()
		if c.sockets == 0 {
			c.mu.Unlock()
			return
		}
		ch := c.changed
		c.mu.Unlock()
		<-ch
	}
}

// socketClosed is each dialed connection's onClosed.
func (c *Client) socketClosed() {
	c.mu.Lock()
	c.sockets--
	c.signalChangedLocked()
	c.mu.Unlock()
}

// beginCloseLocked marks the Client closing, fails the waiters, and takes
// the idle connections out of the pool for the caller to close.
func (c *Client) beginCloseLocked() []*pconn {
	c.closing = true
	c.closeDone = make(chan struct{})
	c.signalChangedLocked() // wakes Connect
	c.transitionLocked(StateDisconnecting)
	c.failWaitersLocked(ErrClosed)
	c.releaseHeldLocked()
	if c.pipelined {
		return c.retireSharedLocked(0, reasonShutdown)
	}
	idle := c.idle
	c.idle = nil
	for _, pc := range idle {
		c.removeLocked(pc, reasonShutdown, nil)
	}
	return idle
}

// drain waits until every borrowed connection is back, or until ctx ends,
// when it closes the ones still out and returns how many.
func (c *Client) drain(ctx context.Context) int {
	for {
		c.mu.Lock()
		if c.open+c.retiredLocked() == 0 {
			c.mu.Unlock()
			return 0
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
			continue
		case <-ctx.Done():
		}
		c.mu.Lock()
		busy := make([]*pconn, 0, len(c.all))
		for pc := range c.all {
			busy = append(busy, pc)
			c.removeLocked(pc, reasonForced, nil)
		}
		busy = append(busy, c.takeRetiredLocked()...)
		c.unlock()
		for _, pc := range busy {
			pc.conn.kill()
		}
		return len(busy)
	}
}

// Resize sets the number of connections the pool keeps, live. Growing dials
// the new connections one after another in the background. Shrinking closes
// idle connections at once and busy ones as they are returned: no request in
// flight fails because of a resize. n must be at least 1.
func (c *Client) Resize(n int) error {
	if n < 1 {
		return fmt.Errorf("fleare: resize %s to %d: size must be at least 1", c.addr, n)
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	victims := c.resizeLocked(n)
	c.unlock()
	c.closeAll(victims)
	return nil
}

// resizeLocked sets the desired size and returns the connections to close
// (after unlocking) at once: idle ones, or in pipelined mode retired ones
// with no request in flight.
func (c *Client) resizeLocked(n int) []*pconn {
	c.desired = n
	var victims []*pconn
	if c.pipelined {
		victims = c.retireSharedLocked(n, reasonResize)
	} else {
		victims = c.shrinkIdleLocked()
	}
	c.replacing = min(c.replacing, max(0, c.desired-c.open))
	c.signalChangedLocked()
	c.wakeLocked()
	return victims
}

// closeAll closes connections taken out of the pool.
func (c *Client) closeAll(pcs []*pconn) {
	for _, pc := range pcs {
		pc.conn.kill()
	}
}

// shrinkIdleLocked removes idle connections, least recently used first,
// while the pool is above its desired size, and returns them for closing.
func (c *Client) shrinkIdleLocked() []*pconn {
	k := min(len(c.idle), c.open-c.desired)
	if k <= 0 {
		return nil
	}
	victims := make([]*pconn, k)
	copy(victims, c.idle[:k])
	n := copy(c.idle, c.idle[k:])
	clear(c.idle[n:])
	c.idle = c.idle[:n]
	for _, pc := range victims {
		c.removeLocked(pc, reasonResize, nil)
	}
	return victims
}

// Update applies new options in place, without touching open connections:
// PoolSize (as Resize), MaxQueue, ConnectTimeout, RequestTimeout,
// MaxRetries, RetryInterval, HealthCheckInterval, MaxLifetime and
// LifetimeJitter (connections already open are judged by the new values),
// OnEvent, new PasswordFunc, Dialer or AfterConnect functions (used by the
// next dials), and Pipeline
// while it stays above 1. A change of Username or Password, adding or
// removing PasswordFunc or Dialer, or turning pipelining on or off, needs
// new connections: Update then changes nothing and returns an error
// wrapping ErrNotInPlace.
func (c *Client) Update(o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	o = o.withDefaults()
	c.mu.Lock()
	cur := c.opts
	var field string
	switch {
	case o.Username != cur.Username:
		field = "Username"
	case o.Password != cur.Password:
		field = "Password"
	case (o.PasswordFunc == nil) != (cur.PasswordFunc == nil):
		field = "PasswordFunc"
	case (o.Dialer == nil) != (cur.Dialer == nil):
		field = "Dialer"
	case (o.Pipeline > 1) != c.pipelined:
		field = "Pipeline"
	}
	if field != "" {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotInPlace, field)
	}
	if c.hc != nil && o.HealthCheckInterval != cur.HealthCheckInterval {
		checker.reschedule(c.hc, o.HealthCheckInterval)
	}
	c.opts = o
	c.reqTimeout.Store(int64(o.RequestTimeout))
	c.allowUnsafe.Store(o.AllowUnsafeCommands)
	for _, pc := range c.shared { // a larger Pipeline frees slots
		c.handSlotsLocked(pc)
	}
	var victims []*pconn
	var err error
	switch {
	case o.PoolSize == c.desired:
	case c.closing:
		err = ErrClosed
	default:
		victims = c.resizeLocked(o.PoolSize) // under the same lock: no Resize slips between
	}
	c.wakeLocked()
	c.unlock()
	c.closeAll(victims)
	return err
}

// Do sends one command on a pooled connection and returns the result of its
// "Ok" reply, or a *ServerError for an "Error" reply. ctx and RequestTimeout
// (whichever ends first) bound the whole call, including the wait for a
// connection.
//
// Errors that mean the request was never sent: ErrClosed (the Client was
// closed before the request got a connection; only then), ErrQueueFull,
// ErrNotConnected, ErrUnavailable, and a *TimeoutError with Op "acquire".
// A request that fails on the wire returns a *ConnError or *TimeoutError
// instead; see SafeToRetry.
func (c *Client) Do(ctx context.Context, command string, args ...string) ([]byte, error) {
	r, err := c.Exec(ctx, command, args...)
	return r.value(command, err)
}

// Exec is Do returning the server's reply as it came: an "Error" reply is
// a Reply with Status "Error" and its message untouched, not an error. The
// error is for the request failing, as with Do.
func (c *Client) Exec(ctx context.Context, command string, args ...string) (Reply, error) {
	if !c.allowUnsafe.Load() && IsUnsafe(command) {
		err := unsafeError(command)
		c.countFailure(err)
		return Reply{}, err
	}
	now := time.Now()
	deadline := requestDeadline(ctx, now, time.Duration(c.reqTimeout.Load()))
	if err := c.holdIfPaused(ctx, deadline); err != nil {
		c.countFailure(err)
		return Reply{}, err
	}
	pc, err := c.acquire(ctx, deadline)
	if err != nil {
		c.countFailure(err)
		return Reply{}, err
	}
	if pc.pipe != nil {
		return c.execShared(ctx, pc, deadline, now, command, args)
	}
	res, err := pc.conn.exec(ctx, deadline, command, args, false)
	c.release(pc, res, err, now, deadline)
	return res, err
}
