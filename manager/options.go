package manager

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// Defaults for zero Options fields.
const (
	DefaultDebounce           = 50 * time.Millisecond
	DefaultPollInterval       = 2 * time.Second
	DefaultEventBuffer        = 1024
	DefaultConnectConcurrency = 16
)

// Options configure a Manager. A zero field takes its default; New copies
// the struct and never writes to the caller's value.
type Options struct {
	// Logger receives one record per event (debug for pool state changes,
	// info for configuration and target changes, warn for errors and
	// rejected configurations), written by a goroutine of the manager's so
	// that a slow log never slows a request: up to EventBuffer events wait
	// for it, and those beyond are dropped and counted (Status.LogDropped).
	// Default nil: no logging.
	Logger *slog.Logger

	// Debounce is how long a watched file must be quiet before it is read.
	// Default 50ms.
	Debounce time.Duration
	// PollInterval is how often a watched file's content is hashed, as a
	// backstop for mounts where inotify sees nothing. Default 2s; negative
	// turns polling off.
	PollInterval time.Duration
	// ReloadOnSIGHUP makes WatchFile also re-read the file on SIGHUP.
	// Default false.
	ReloadOnSIGHUP bool

	// EventBuffer is each subscriber's buffer, and the log's; a subscriber
	// that falls further behind loses events. Default 1024.
	EventBuffer int
	// ConnectConcurrency bounds how many new pools Apply opens at the same
	// time (pools for one address still dial one connection at a time, as
	// the Fleare server requires). Default 16.
	ConnectConcurrency int

	// Dialer opens TCP connections for every pool. Default: the fleare
	// client's dialer. Tests use it to inject faults.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// HealthCheckInterval, when set, overrides every target's
	// pool.health_check_interval (see fleare.Options.HealthCheckInterval):
	// for tests and embedders that want one interval everywhere. Default 0:
	// each target's own.
	HealthCheckInterval time.Duration
	// CloseSpacing is passed to every pool (see fleare.Options.CloseSpacing):
	// the pause after each close on a server's gate. Default: the fleare
	// default, 10ms; negative: none (for servers that do not need it, such
	// as fleartest in benchmarks).
	CloseSpacing time.Duration
	// RequestObserver, when set, is called after every request made
	// through a manager Client, with the caller's context (so that a
	// tracer can record a span under the caller's: the request started
	// took before the call), the target, the time it took and its error.
	// It runs on the caller's goroutine, so it must be fast and must not
	// block. Default nil.
	RequestObserver func(ctx context.Context, target string, took time.Duration, err error)
	// AfterConnect, when set, runs on each new connection of every pool,
	// after authentication and before it serves (see
	// fleare.Options.AfterConnect), with the target's name. Its error
	// closes the connection and counts as a failed dial. Default nil.
	AfterConnect func(ctx context.Context, target string, c *fleare.Conn) error
}

func (o Options) withDefaults() (Options, error) {
	if o.Debounce < 0 || o.EventBuffer < 0 || o.ConnectConcurrency < 0 || o.HealthCheckInterval < 0 {
		return o, fmt.Errorf("manager: options: Debounce, EventBuffer, ConnectConcurrency and HealthCheckInterval must not be negative")
	}
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.EventBuffer == 0 {
		o.EventBuffer = DefaultEventBuffer
	}
	if o.ConnectConcurrency == 0 {
		o.ConnectConcurrency = DefaultConnectConcurrency
	}
	return o, nil
}
