package spec

import (
	"net"
	"strconv"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// Version is the only configuration format version this package reads.
const Version = 1

// Built-in defaults, applied before a file's own defaults section. Those the
// connection pool also has are fleare's (which follow the official Fleare
// clients), so a key left out of the file and a pool built with no option
// agree.
const (
	DefaultPort           = 9219
	DefaultPoolSize       = fleare.DefaultPoolSize
	DefaultMaxQueue       = fleare.DefaultMaxQueue
	DefaultPipeline       = fleare.DefaultPipeline
	DefaultConnectTimeout = fleare.DefaultConnectTimeout
	DefaultRequestTimeout = fleare.DefaultRequestTimeout
	DefaultDrainTimeout   = 10 * time.Second
	DefaultMaxRetries     = fleare.DefaultMaxRetries
	DefaultRetryInterval  = fleare.DefaultRetryInterval

	DefaultHealthCheckInterval = fleare.DefaultHealthCheckInterval
)

// Bounds enforced by validation. Values outside them are rejected, never clamped.
const (
	MinPort     = 1
	MaxPort     = 65535
	MinPoolSize = 1
	MaxPoolSize = 1024
	// MaxMaxQueue bounds Pool.MaxQueue (whose minimum is 0).
	MaxMaxQueue = 1_000_000
	// MaxPipeline bounds Pool.Pipeline (whose minimum is 0).
	MaxPipeline = 1024
	// MaxMaxRetries bounds Retry.MaxRetries (whose minimum is 0).
	MaxMaxRetries = 1000
	// MaxNameLen bounds the length of a target name.
	MaxNameLen = 63
)

// Config is a resolved, validated desired state: every default applied and
// every variable expanded.
type Config struct {
	// Version is the format version of the source file.
	Version int
	// Targets holds one entry per named target, sorted by Name, names unique.
	Targets []Target
}

// Lookup returns the target with the given name.
func (c *Config) Lookup(name string) (Target, bool) {
	lo, hi := 0, len(c.Targets)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c.Targets[mid].Name < name {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(c.Targets) && c.Targets[lo].Name == name {
		return c.Targets[lo], true
	}
	return Target{}, false
}

// Target is one named Fleare server and how to connect to it. It is a
// comparable value: two targets are the same desired state exactly when they
// are ==.
//
// Every field holds the value in force, defaults applied: a zero is a value
// (pool.max_queue 0: callers never wait; retry.max_retries 0: no retry;
// timeouts.drain 0: no drain), never "the default". PoolOptions translates
// it to fleare.Options, where a zero means the default.
type Target struct {
	// Name is the target's key in the file: 1-63 ASCII letters, digits,
	// '-', '_' and '.', starting with a letter or digit.
	Name string
	// Host is a host name or IP address; never empty.
	Host string
	// Port is the server's TCP port, 1-65535. Default 9219.
	Port int
	// Username for the auth frame; empty when the server runs without auth.
	// Never empty when a password or password file is set. Default "".
	Username string
	// Password for the auth frame. Empty when PasswordFile is set.
	// Default none.
	Password Secret
	// PasswordFile, when set, names a file whose content (trailing newline
	// trimmed) is the password. It is read again at every connect, so a
	// rotated secret is used without a reload (see ResolvePassword). An
	// absolute path once parsed. Default none.
	PasswordFile string
	// Pool sizes the connection pool.
	Pool Pool
	// Timeouts bound connects, requests and drains.
	Timeouts Timeouts
	// Retry paces reconnects after a failed dial.
	Retry Retry
	// Listen is where applications connect to reach the target through
	// the manager's proxy; zero (Address "") when the target has no
	// listen section.
	Listen Listen
}

// Pool describes a target's connection pool.
type Pool struct {
	// Size is the number of connections kept open, 1-1024. Default 10.
	Size int
	// MaxQueue bounds the callers waiting for a connection when all are in
	// use; one more gets an error at once. 0-1,000,000; 0 means callers
	// never wait. Default 1024.
	MaxQueue int
	// Pipeline, when above 1, lets up to that many requests be in flight
	// on one connection at a time (the server answers in order), which
	// raises throughput when callers outnumber connections. 0-1024; 0 or 1
	// turns pipelining off: one request at a time. Default 32.
	Pipeline int

	// HealthCheckInterval is how often idle connections are checked for a
	// server that hung up (and, with MaxLifetime, for their age); positive.
	// Default 1s.
	HealthCheckInterval time.Duration
	// MaxLifetime, when positive, is how long a connection lives before it
	// is replaced, one at a time and make-before-break. Default 0: until
	// it breaks.
	MaxLifetime time.Duration
	// LifetimeJitter adds a random [0, LifetimeJitter) to each
	// connection's lifetime, so that connections opened together are not
	// replaced together; ignored while MaxLifetime is 0. Default 0.
	LifetimeJitter time.Duration
}

// Timeouts bound the phases of a connection's life.
type Timeouts struct {
	// Connect bounds one dial plus authentication; positive. Default 30s.
	Connect time.Duration
	// Request bounds one request, including the wait for a free connection,
	// when the caller's context has no earlier deadline; positive.
	// Default 30s.
	Request time.Duration
	// Drain bounds how long a pool being closed or replaced waits for
	// borrowed connections to come back before closing them; 0 closes
	// them at once. Default 10s.
	Drain time.Duration
}

// Retry paces dial attempts after a failure.
type Retry struct {
	// MaxRetries is how many times a connect is retried before it is
	// reported as failed (the pool keeps retrying in the background),
	// 0-1000. Default 3.
	MaxRetries int
	// Interval is the base of the jittered exponential backoff between
	// attempts; positive. Default 10s.
	Interval time.Duration
}

// Addr returns the target's address in host:port form, with an IPv6 host in
// brackets, as net.Dial takes it.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }
