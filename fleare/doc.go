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
// pipelines (Conn.Pipeline). A caller holding several requests at once
// hands them to the pool as one batch (Client.ExecBatch, Client.Pipeline):
// they take one connection, or the free slots of one, and go out in one
// write, with each request's own outcome.
//
// # Connections and the server's gate
//
// The real Fleare server is fragile: connections that arrive together are
// stranded and its listener wedges until restart; connections that close
// together, or while one is being accepted, crash it. Every dial and every
// close in this process therefore goes through a gate per server: the
// host is resolved (within the connect timeout) and the gate
// keyed on the address, so "localhost" and "127.0.0.1" share one; one dial
// plus authentication, or one close, holds it at a time; after a close it
// stays shut for Options.CloseSpacing (default 10ms); closes go before
// dials. Nobody returning a connection waits for the gate: the close is
// queued and done by whoever frees the gate, or a timer. Client.Close and
// Conn.Close return once their sockets are really closed. A new connection
// the server drops before answering its auth frame (the real server does,
// now and then, after closes) is dialed again, twice at most, with backoff.
//
// A Client dials in one background goroutine; a failed dial is retried
// with jittered exponential backoff (RetryInterval doubling up to
// MaxBackoff); a connection that breaks or whose request times out is
// closed, never reused, and replaced. Connections idle for a whole
// HealthCheckInterval are checked for a vanished peer or a stray reply by
// one checker goroutine for the whole process (one ppoll for many sockets
// on Linux), not by a timer per Client.
//
// Requests wait for a free connection in FIFO order, at most MaxQueue of
// them, each bounded by its context and RequestTimeout. Resize changes the
// pool size live: growing dials in the background, shrinking closes idle
// connections first and busy ones when they come back.
//
// # Cancellation, deadlines and stray replies
//
// The server answers each request, in order, even when its caller has
// gone. A request whose context is canceled after it was sent returns at
// once with an error matching context.Canceled, and its connection stays
// up: the reply is read and discarded when it comes (by a goroutine of the
// pool, or by the next request on a single Conn), and the connection is
// closed only if that reply has not come by the request's deadline (its
// context's deadline or RequestTimeout, whichever is first). A
// cancellation is counted in Stats.Abandoned, never as an error event.
// A request whose deadline passes is different: the server is slower than
// the caller can wait, the connection is closed (the late reply can never
// reach anyone) and replaced, and the caller gets a *TimeoutError.
//
// No caller gets another caller's reply. The plain pool checks a
// connection before lending it (a non-blocking look at its socket, which
// must hold nothing), and a reply followed by more bytes in the same read
// fails its request, since the frame no request asked for may have come
// first; either way the connection is closed. In pipelined mode the reader
// fails the connection when a frame arrives and every request written has
// had its reply, and an idle connection is looked at before a request, as
// in plain mode. (A stray frame that arrives while replies are still
// awaited cannot be told from the next reply: the protocol has no request
// ids.)
//
// # Commands that kill the server
//
// STR.GET and NUM.GET of a key that does not exist crash the real server
// for everyone. Do, Exec and Pipeline refuse them with ErrUnsafeCommand
// (UnsafeCommands lists them, for proxies) unless
// Options.AllowUnsafeCommands is set; Client.StrGet and Client.NumGet read
// the same values safely, with GET.
//
// # Pipelining
//
// The server answers each connection's requests in order, so requests can
// share a connection without waiting for each other's replies. With
// Options.Pipeline above 1 (the default, DefaultPipeline, is 32; 1 turns
// it off), each connection carries up to that many requests at once, with no goroutine of its own: the callers write and
// read in turn. Requests that come while a batch awaits its replies go out
// together in one write, and the replies are read in bulk and handed back
// in order; a caller alone on a connection writes and reads its own
// request, as in plain mode. Requests fill the first connection with room.
// When callers outnumber connections this cuts the system calls per
// request on both sides; measured on 2 cores with 8 connections and the
// server in another process, PING throughput was 2 to 6 times the plain
// pool's from 16 to 256 callers (3 to 8 times on a loaded machine), and
// about the same with one caller (see
// BENCHMARKS.md). A slow request delays the ones behind it on its
// connection. A request whose deadline passes fails alone; its connection
// is replaced, and closed once the requests in flight on it have their
// replies or their own deadlines have passed. Reconnect and MaxLifetime
// replace busy connections the same way.
//
// # Errors
//
// Sentinels name states (ErrClosed, ErrQueueFull, ErrUnavailable,
// ErrNotConnected, ErrTimeout, ErrBroken, ErrAuth, ErrUnsafeCommand) and
// types carry data
// (*ServerError for an "Error" reply, *AuthError, *TimeoutError,
// *ConnError, *FrameError, *CloseError); test them with errors.Is and
// errors.As. ErrClosed is returned only for a request that was never sent;
// SafeToRetry reports more generally whether a failed request can be sent
// again without running it twice. No error, event or String output contains
// the password.
//
// # Pause, reconnect and lifetimes
//
// Pause holds new requests (each within its own deadline and MaxQueue)
// until Resume, and returns once none is in flight: a planned restart of
// the server then costs callers a wait instead of errors. Reconnect
// replaces every connection, and Options.MaxLifetime (with
// LifetimeJitter) each connection that has lived long enough: one at a
// time, make-before-break, from the pool's one background goroutine, so
// that dials and closes still pass the server's gate one after another.
// Options.AfterConnect prepares each new connection before it serves.
//
// # Events
//
// Options.OnEvent receives client-level events named as in the official
// Fleare clients (connecting, connected, disconnected, error, close,
// stateChanged); see Event for their order.
package fleare
