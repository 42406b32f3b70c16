// Package fleare is a client for the Fleare in-memory key-value server: a
// pool of authenticated connections that can be resized while in use, with
// typed errors, lifecycle events and statistics.
//
// # Usage
//
//	c := fleare.NewClient("10.0.0.5", 9219, fleare.Options{
//		PoolSize: 8,
//		Username: "root",
//		Password: os.Getenv("FLEARE_PASSWORD"),
//		OnEvent:  func(e fleare.Event) { log.Print(e) },
//	})
//	defer c.Close(context.Background())
//	if err := c.Connect(ctx); err != nil {
//		return err // the Client keeps dialing in the background
//	}
//	if err := c.Set(ctx, "greeting", "hello"); err != nil {
//		return err
//	}
//	v, err := c.Get(ctx, "greeting")
//
// Anything else goes through Do, which returns the reply's result:
//
//	res, err := c.Do(ctx, "LIST.PUSH", "queue", "job-1")
//
// A single connection without a pool is available through Dial; it also
// pipelines (Conn.Pipeline).
//
// # Connections
//
// The Fleare server authenticates new connections one at a time and strands
// connections that arrive together, so every connection this package opens
// to an address waits for the previous one to that address to finish its
// dial and authentication. The gate is process-wide: many Clients aimed at
// one server dial one after another. A Client dials in one background
// goroutine; a failed dial is retried with jittered exponential backoff
// (RetryInterval doubling up to MaxBackoff); a connection that breaks, times
// out or whose request is canceled mid-flight is closed, never reused, and
// replaced. Idle connections are checked for a vanished peer every
// HealthCheckInterval and before reuse after a second of idleness.
//
// Requests wait for a free connection in FIFO order, at most MaxQueue of
// them, each bounded by its context and RequestTimeout. Resize changes the
// pool size live: growing dials in the background, shrinking closes idle
// connections first and busy ones when they come back.
//
// # Pipelining
//
// The server answers each connection's requests in order, so requests can
// share a connection without waiting for each other's replies. With
// Options.Pipeline set above 1, each connection carries up to that many
// requests at once: a writer goroutine per connection sends whatever
// requests accumulated in one write, and a reader goroutine hands the
// replies back in order. When callers outnumber connections this cuts the
// system calls per request on both sides; measured on 2 cores with 8
// connections and an in-process server, PING throughput was 2.6 times the
// plain pool's at 64 callers and 3.7 times at 256 (see BENCHMARKS.md). It
// costs a single caller (0.7 times: two goroutine hand-offs, nothing to
// batch), and a slow request delays the ones behind it on its connection. It is off by default. In pipelined mode a request whose
// deadline passes closes its connection, failing the requests in flight
// on it, while a canceled request returns at once and leaves the
// connection up (its reply is discarded when it comes).
//
// # Errors
//
// Sentinels name states (ErrClosed, ErrQueueFull, ErrUnavailable,
// ErrNotConnected, ErrTimeout, ErrBroken, ErrAuth) and types carry data
// (*ServerError for an "Error" reply, *AuthError, *TimeoutError,
// *ConnError, *FrameError, *CloseError); test them with errors.Is and
// errors.As. ErrClosed is returned only for a request that was never sent;
// SafeToRetry reports more generally whether a failed request can be sent
// again without running it twice. No error, event or String output contains
// the password.
//
// # Events
//
// Options.OnEvent receives client-level events named as in the official
// Fleare clients (connecting, connected, disconnected, error, close,
// stateChanged); see Event for their order.
package fleare
