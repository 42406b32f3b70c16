package fleare

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Defaults applied to zero-valued Options fields. They follow the official
// Fleare clients.
const (
	DefaultPoolSize            = 10
	DefaultMaxQueue            = 1024
	DefaultConnectTimeout      = 30 * time.Second
	DefaultRequestTimeout      = 30 * time.Second
	DefaultMaxRetries          = 3
	DefaultRetryInterval       = 10 * time.Second
	DefaultHealthCheckInterval = time.Second
	// DefaultPipeline is how many requests share one connection at a time
	// when Options.Pipeline is 0.
	DefaultPipeline = 32
	// MaxBackoff caps the delay between two dial attempts, unless
	// RetryInterval is itself larger.
	MaxBackoff = 30 * time.Second
)

// Options configure a Client, or a single Conn given to Dial (which uses only
// the credentials, ConnectTimeout, RequestTimeout, CloseSpacing,
// AllowUnsafeCommands and Dialer). A zero field
// takes its default; NewClient copies the struct and never writes to the
// caller's value.
type Options struct {
	// PoolSize is the number of connections the Client keeps open. Default 10.
	PoolSize int
	// MaxQueue bounds the callers that may wait for a connection when all are
	// busy; the next one fails at once with ErrQueueFull. Zero means the
	// default, 1024; a negative value means none may wait.
	MaxQueue int

	// Username for the auth frame. Leave it and the password empty for a
	// server that runs without auth.
	Username string
	// Password for the auth frame. Never printed: not in errors, events,
	// logs, nor by String.
	Password string
	// PasswordFunc, when set, is called at every dial instead of reading
	// Password, so that a rotated secret is picked up by new connections. Its
	// error fails the dial. Default nil.
	PasswordFunc func() (string, error)

	// ConnectTimeout bounds resolving the host, and then each dial plus
	// authentication (not the wait for the server's gate, which only the
	// context bounds). Default 30s.
	ConnectTimeout time.Duration
	// RequestTimeout bounds one request, including the wait for a free
	// connection, when the caller's context has no earlier deadline.
	// Default 30s.
	RequestTimeout time.Duration

	// MaxRetries is how many dial attempts Connect makes after the first one
	// before it reports failure; the Client keeps retrying in the background
	// regardless. Zero means the default, 3; a negative value means none.
	MaxRetries int
	// RetryInterval is the base of the exponential backoff between failed
	// dials: attempt n waits RetryInterval * 2^(n-1), at most
	// max(RetryInterval, MaxBackoff), with ±20% jitter. Default 10s.
	RetryInterval time.Duration
	// HealthCheckInterval is how often idle connections are checked for a
	// peer that hung up or a stray reply (a cheap non-blocking look, no
	// traffic), so that a server that went away is noticed and its
	// connections replaced without waiting for a request to fail. Only
	// connections neither used nor checked for a whole interval are
	// looked at. Default 1s.
	HealthCheckInterval time.Duration

	// MaxLifetime, when positive, is how long a connection lives: once it
	// is older than MaxLifetime plus its share of LifetimeJitter, it is
	// replaced, make-before-break and one connection at a time through the
	// server's gate (see Reconnect), so that a server name moved to
	// another address is followed and connections opened together are
	// not replaced together. The age is checked every HealthCheckInterval.
	// Default 0: connections live until they break.
	MaxLifetime time.Duration
	// LifetimeJitter spreads lifetimes: each connection gets a random
	// extra in [0, LifetimeJitter). Default 0: none.
	LifetimeJitter time.Duration
	// AfterConnect, when set, runs on each new connection after
	// authentication and before it serves any request, bounded by
	// ConnectTimeout (for Dial too). Its error closes the connection,
	// through the server's gate, and fails the dial (a *ConnError with Op
	// "after connect"; the pool counts a failed dial and retries with
	// backoff). It may send requests on the Conn, but must not keep it.
	// Default nil.
	AfterConnect func(ctx context.Context, c *Conn) error

	// Pipeline is how many requests may share one connection at a time.
	// Above 1, pipelining is on: the callers do the I/O themselves:
	// requests that come while a batch awaits its replies are written
	// together in one write once it is answered, and replies are read in
	// bulk and handed out in order; a caller alone on a connection writes
	// and reads its own request, as in plain mode. Requests fill the first
	// connection with room; a caller waits only when every connection has
	// Pipeline requests in flight. It raises throughput when callers
	// outnumber connections (fewer system calls per request on both sides,
	// 2 to 6 times the plain pool's PING/s from 16 to 256 callers in
	// BENCHMARKS.md); one caller alone gets about the plain pool's rate.
	// It does not help requests that are slow on the server (they delay
	// the replies queued behind them on their connection).
	//
	// A request whose deadline passes fails alone with a *TimeoutError:
	// its reply is discarded when it comes, the requests in flight on its
	// connection still get theirs, each failing only at its own deadline,
	// and the connection takes no new request: it is replaced
	// (Stats.ClosedTimeout) and closed once nothing is in flight on it, or
	// when the last deadline passes with a reply missing. Reconnect and
	// MaxLifetime retire a busy connection the same way, once its
	// replacement is open. A request whose context is canceled returns at
	// once and its reply is discarded, leaving the connection up, as in
	// plain mode.
	//
	// 1 turns pipelining off: one request per connection at a time, each
	// caller holding its connection for the whole request. Pipeline can
	// change with Update while it stays above 1; turning it on or off
	// needs a new Client. Zero means the default, DefaultPipeline (32):
	// on.
	Pipeline int

	// CloseSpacing is how long a server's gate stays shut after a
	// connection to it is closed: the next close or dial to that server
	// starts no sooner (the real server crashes when closes come together).
	// Callers never wait for it; Close does, once per connection. Zero
	// means the default, DefaultCloseSpacing (10ms); a negative value
	// means no spacing (for tests against a server that does not need it).
	CloseSpacing time.Duration

	// AllowUnsafeCommands turns off the guard that refuses, with
	// ErrUnsafeCommand, the commands that can kill the server (see
	// UnsafeCommands) in Do, Exec and Pipeline. Default false: refused.
	AllowUnsafeCommands bool

	// OnEvent receives the Client's lifecycle events, one at a time, in
	// order. It must return quickly and must not call back into the Client.
	// Default nil (no events).
	OnEvent func(Event)

	// Dialer opens the TCP connection. Default: a net.Dialer with TCP
	// keep-alive. Tests use it to inject faults.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// String describes the options with the password masked.
func (o Options) String() string {
	pw := ""
	if o.Password != "" {
		pw = "<secret>"
	}
	return fmt.Sprintf("{PoolSize:%d MaxQueue:%d Username:%q Password:%q PasswordFunc:%t ConnectTimeout:%v RequestTimeout:%v MaxRetries:%d RetryInterval:%v HealthCheckInterval:%v MaxLifetime:%v LifetimeJitter:%v AfterConnect:%t Pipeline:%d CloseSpacing:%v AllowUnsafeCommands:%t}",
		o.PoolSize, o.MaxQueue, o.Username, pw, o.PasswordFunc != nil, o.ConnectTimeout, o.RequestTimeout,
		o.MaxRetries, o.RetryInterval, o.HealthCheckInterval, o.MaxLifetime, o.LifetimeJitter, o.AfterConnect != nil,
		o.Pipeline, o.CloseSpacing, o.AllowUnsafeCommands)
}

// GoString masks the password for %#v too.
func (o Options) GoString() string { return "fleare.Options" + o.String() }

// withDefaults returns a copy with every zero field set to its default.
func (o Options) withDefaults() Options {
	o.PoolSize = orDefault(o.PoolSize, DefaultPoolSize)
	o.MaxQueue = countOrDefault(o.MaxQueue, DefaultMaxQueue)
	o.ConnectTimeout = orDefault(o.ConnectTimeout, DefaultConnectTimeout)
	o.RequestTimeout = orDefault(o.RequestTimeout, DefaultRequestTimeout)
	o.MaxRetries = countOrDefault(o.MaxRetries, DefaultMaxRetries)
	o.RetryInterval = orDefault(o.RetryInterval, DefaultRetryInterval)
	o.HealthCheckInterval = orDefault(o.HealthCheckInterval, DefaultHealthCheckInterval)
	o.Pipeline = orDefault(o.Pipeline, DefaultPipeline)
	if o.CloseSpacing == 0 {
		o.CloseSpacing = DefaultCloseSpacing
	} else if o.CloseSpacing < 0 {
		o.CloseSpacing = 0
	}
	return o
}

// orDefault returns def for a zero v.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// countOrDefault reads a count where zero means the default and a negative
// value means none.
func countOrDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// validate reports every out-of-range field of o (before defaults).
func (o Options) validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("fleare: options: %s is %v, want %s", field, v, want))
	}
	if o.PoolSize < 0 {
		bad("PoolSize", o.PoolSize, "at least 1 (0 for the default)")
	}
	if o.Pipeline < 0 {
		bad("Pipeline", o.Pipeline, "1 (off), the requests per connection, or 0 for the default")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ConnectTimeout", o.ConnectTimeout}, {"RequestTimeout", o.RequestTimeout},
		{"RetryInterval", o.RetryInterval}, {"HealthCheckInterval", o.HealthCheckInterval},
		{"MaxLifetime", o.MaxLifetime}, {"LifetimeJitter", o.LifetimeJitter},
	} {
		if d.v < 0 {
			bad(d.name, d.v, "a positive duration (0 for the default)")
		}
	}
	return errors.Join(errs...)
}

// validateAddr checks a host and port.
func validateAddr(host string, port int) error {
	var errs []error
	if host == "" {
		errs = append(errs, errors.New("fleare: host is empty"))
	}
	if port < 1 || port > 65535 {
		errs = append(errs, fmt.Errorf("fleare: port is %d, want 1-65535", port))
	}
	return errors.Join(errs...)
}

// password returns the password to send, calling PasswordFunc when set.
func (o *Options) password() (string, error) {
	if o.PasswordFunc == nil {
		return o.Password, nil
	}
	pw, err := o.PasswordFunc()
	if err != nil {
		return "", fmt.Errorf("fleare: reading password: %w", err)
	}
	return pw, nil
}
