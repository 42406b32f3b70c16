package fleare

import "time"

// counters are the Client's cumulative counts, guarded by Client.mu.
type counters struct {
	requests, errors, serverErrors uint64
	dialAttempts, dialFailures     uint64
	replaced                       uint64
	waits, queueFull               uint64
	abandoned                      uint64
	closed                         [numReasons]uint64
}

// Stats is a snapshot of a Client: gauges of the moment and cumulative
// counters since NewClient.
type Stats struct {
	Addr  string
	State State

	// Desired is the size the pool aims for (PoolSize, or the last Resize).
	Desired int
	// Open is the number of connections open: Idle + InUse.
	Open int
	// Idle connections are ready for the next request.
	Idle int
	// InUse connections are lent to requests, or out of use while the
	// reply of a canceled request is awaited. A connection being
	// health-checked counts as idle.
	InUse int
	// InFlight is the number of requests holding a connection: InUse, or
	// with Options.Pipeline, the requests pipelined on all connections.
	InFlight int
	// Waiting is the number of callers queued for a connection.
	Waiting int
	// Dialing is 1 while a connection is being opened, else 0.
	Dialing int

	// Requests counts requests sent on a connection.
	Requests uint64
	// Errors counts calls that failed for any reason other than an "Error"
	// reply: before getting a connection (queue full, timeout, closed...) or
	// on the wire.
	Errors uint64
	// ServerErrors counts "Error" replies.
	ServerErrors uint64
	// DialAttempts and DialFailures count connection attempts (dial plus
	// authentication) and the failed ones.
	DialAttempts uint64
	DialFailures uint64
	// Replaced counts connections that were lost (broken, timed out,
	// holding a stray reply, found dead while idle) and then replaced by a
	// new one.
	Replaced uint64
	// Waits counts requests that had to queue for a connection, WaitTime
	// their total wait, and QueueFull those refused because the queue was
	// full.
	Waits     uint64
	WaitTime  time.Duration
	QueueFull uint64

	// Connections closed, by reason.
	ClosedBroken   uint64 // I/O or protocol error, or the peer went away
	ClosedTimeout  uint64 // a request's deadline passed mid-request
	ClosedCanceled uint64 // a request's context was canceled mid-write, cutting a frame
	ClosedResize   uint64 // the pool was shrunk
	ClosedShutdown uint64 // closed by Close
	ClosedForced   uint64 // closed by Close with a request in flight
	ClosedStray    uint64 // holding data no request asked for (a stray reply)

	// ClosedLifetime counts connections replaced for being older than
	// Options.MaxLifetime, and ClosedReconnect those replaced by
	// Reconnect.
	ClosedLifetime  uint64
	ClosedReconnect uint64

	// Paused reports a Pause not yet ended by Resume. Held is the number of
	// requests it holds now; Holds counts the requests it held, and
	// HoldTime their total wait.
	Paused   bool
	Held     int
	Holds    uint64
	HoldTime time.Duration
	// Stale is the number of connections due for replacement: older than
	// MaxLifetime or than the last Reconnect.
	Stale int

	// Abandoned counts requests canceled after they were sent: their
	// connections stayed up, and their replies were read and discarded.
	Abandoned uint64

	// LastError is the text of the last dial error or lost connection's
	// error ("" if none), and LastErrorTime when it happened. It never
	// holds a password.
	LastError     string
	LastErrorTime time.Time
}

// Stats returns a snapshot of the Client's counts.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := &c.counters
	s := Stats{
		Addr:           c.addr,
		State:          c.state,
		Desired:        c.desired,
		Open:           c.open,
		Idle:           len(c.idle) + c.checking,
		InUse:          c.open - len(c.idle) - c.checking,
		Waiting:        c.waiters.len(),
		Dialing:        c.dialing,
		Requests:       k.requests,
		Errors:         k.errors,
		ServerErrors:   k.serverErrors,
		DialAttempts:   k.dialAttempts,
		DialFailures:   k.dialFailures,
		Replaced:       k.replaced,
		Waits:          k.waits,
		WaitTime:       time.Duration(c.waitNanos.Load()),
		QueueFull:      k.queueFull,
		ClosedBroken:   k.closed[reasonBroken],
		ClosedTimeout:  k.closed[reasonTimeout],
		ClosedCanceled: k.closed[reasonCanceled],
		ClosedResize:   k.closed[reasonResize],
		ClosedShutdown: k.closed[reasonShutdown],
		ClosedForced:   k.closed[reasonForced],
		ClosedStray:    k.closed[reasonStray],
		Abandoned:      k.abandoned,
		LastErrorTime:  c.lastErrAt,
	}
	s.InFlight = s.InUse
	if c.pipelined {
		s.Idle, s.InFlight = c.idleSharedLocked()
		s.InUse = c.open - s.Idle
	}
	c.controlStatsLocked(&s)
	if c.lastErr != nil {
		s.LastError = c.lastErr.Error()
	}
	return s
}
