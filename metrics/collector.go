package metrics

import (
	"reflect"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/manager"
)

// Source is what the collector reads at each scrape. *manager.Manager
// implements it.
type Source interface {
	Status() manager.Status
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// Descriptions of the metrics read from manager.Status.
var (
	descTargets    = desc("targets", "Targets in the configuration in force.")
	descGeneration = desc("config_generation", "Generation of the configuration in force: accepted configurations that changed something.")
	descDraining   = desc("draining_pools", "Pools taken out of service (replaced, deleted or closed) that are still closing.")
	descReloads    = desc("config_reloads_total", "Configuration attempts (Apply, file change, SIGHUP) by result: applied, partial, rejected, unchanged.", "result")
	descLastOK     = desc("config_last_reload_successful", "Whether the last configuration attempt was accepted (1: applied, partial or unchanged) or rejected (0).")
	descLastOKTime = desc("config_last_reload_success_timestamp_seconds", "Unix time of the last accepted configuration attempt.")
	descDropped    = desc("events_dropped_total", "Events lost by subscribers that fell behind.")

	descConnected = desc("target_connected", "Whether the target's serving pool is connected (at least one connection open): 1 or 0.", "target")
	descDesired   = desc("pool_desired_connections", "Connections the target's pool aims to keep open.", "target")
	descOpen      = desc("pool_open_connections", "Connections open in the target's pool: idle plus in use.", "target")
	descIdle      = desc("pool_idle_connections", "Idle connections in the target's pool.", "target")
	descInUse     = desc("pool_in_use_connections", "Connections of the target's pool lent to requests.", "target")
	descWaiting   = desc("pool_waiting_requests", "Callers waiting for a connection of the target's pool.", "target")
	descRequests  = desc("requests_total", "Requests sent on a connection of the target's serving pool.", "target")
	descErrors    = desc("request_errors_total", "Calls to the target that failed for a reason other than an \"Error\" reply: no connection in time, queue full, connection broken, timeout.", "target")
	descSrvErrors = desc("server_errors_total", "\"Error\" replies from the target's server.", "target")
	descDials     = desc("dials_total", "Connection attempts (dial plus authentication) by the target's serving pool.", "target")
	descDialFails = desc("dial_failures_total", "Failed connection attempts by the target's serving pool.", "target")
	descReplaced  = desc("connections_replaced_total", "Connections of the target's serving pool that were lost (broken, timed out, found dead) and replaced.", "target")
	descWaitTime  = desc("pool_wait_seconds_total", "Time callers spent waiting for a connection of the target's serving pool.", "target")
	descQueueFull = desc("pool_queue_full_total", "Calls to the target refused at once because its pool's queue of waiting callers was full.", "target")
	descWaits     = desc("pool_waits_total", "Calls to the target that had to wait for a connection of its serving pool.", "target")
	descInFlight  = desc("pool_in_flight_requests", "Requests holding a connection of the target's serving pool (with pipelining, those on the wire).", "target")
	descAbandoned = desc("pool_abandoned_requests_total", "Requests to the target canceled after they were sent: their connections stayed up, their replies were read and discarded.", "target")
	descClosed    = desc("pool_connections_closed_total", "Connections of the target's serving pool closed, by reason: broken (I/O or protocol error, or the peer went away), timeout and canceled (mid-request), resize (the pool shrank), shutdown (closed by Close), forced (closed by Close with a request in flight), stray (holding a reply no request asked for), lifetime (older than pool.max_lifetime, replaced), reconnect (replaced by a reconnect); a reason for each Closed counter of the pool's statistics.", "target", "reason")
	descTarget    = desc("target_info", "The endpoint (host:port) of the target's serving pool; always 1.", "target", "endpoint")
	descBuild     = desc("build_info", "The fleare-manager version, VCS revision and Go version of this program; always 1.", "version", "revision", "goversion")

	// Operator controls.
	descPaused = desc("target_paused", "Whether the target is paused (flearectl pause): 1 or 0.", "target")
	descHeld   = desc("pool_held_requests", "Calls to the target held by a pause, waiting for resume.", "target")
)

var statusDescs = []*prometheus.Desc{
	descTargets, descGeneration, descDraining, descReloads, descLastOK, descLastOKTime, descDropped,
	descConnected, descDesired, descOpen, descIdle, descInUse, descWaiting,
	descRequests, descErrors, descSrvErrors, descDials, descDialFails, descReplaced,
	descWaitTime, descQueueFull, descWaits, descInFlight, descAbandoned, descClosed, descTarget, descBuild,
	descPaused, descHeld,
}

// closeReason is a counter of fleare.Stats that counts closed connections,
// with its reason label.
type closeReason struct {
	index  int    // the field's index in fleare.Stats
	reason string // the field's name after "Closed", in lower case
}

// closeReasons are the Closed* counters of fleare.Stats, in field order: a
// reason the pool adds is exported without an edit here.
var closeReasons = func() []closeReason {
	typ := reflect.TypeFor[fleare.Stats]()
	var out []closeReason
	for i := range typ.NumField() {
		f := typ.Field(i)
		if rest, ok := strings.CutPrefix(f.Name, "Closed"); ok && rest != "" && f.Type.Kind() == reflect.Uint64 {
			out = append(out, closeReason{index: i, reason: strings.ToLower(rest)})
		}
	}
	return out
}()

// collector turns a Source's Status into metrics at scrape time, and adds
// the request latency histograms of a Metrics, if any.
type collector struct {
	src   Source
	lat   *Metrics // nil: no latency histograms
	build prometheus.Metric
}

// NewCollector returns a prometheus.Collector of src's metrics (see the
// package documentation for the list), read from src.Status at each scrape,
// and of lat's latency histograms. lat may be nil.
func NewCollector(src Source, lat *Metrics) prometheus.Collector {
	bi := readBuildInfo()
	build := prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, bi.version, bi.revision, bi.goVersion)
	return &collector{src: src, lat: lat, build: build}
}

// Describe sends the descriptions of every metric the collector yields.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range statusDescs {
		ch <- d
	}
	for _, d := range proxyDescs {
		ch <- d
	}
	if c.lat != nil {
		c.lat.hist.Describe(ch)
	}
}

// Collect reads the Status and sends its metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	ch <- c.build
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descTargets, float64(len(st.Targets)))
	gauge(descGeneration, float64(st.Generation))
	gauge(descDraining, float64(len(st.Draining)))
	counter(descDropped, st.EventsDropped)
	counter(descReloads, st.Reloads.Applied, string(manager.ReloadApplied))
	counter(descReloads, st.Reloads.Partial, string(manager.ReloadPartial))
	counter(descReloads, st.Reloads.Rejected, string(manager.ReloadRejected))
	counter(descReloads, st.Reloads.Unchanged, string(manager.ReloadUnchanged))
	collectLastReload(st, gauge)

	for _, t := range st.Targets {
		collectTarget(ch, t, gauge, counter)
	}
	if c.lat != nil {
		c.lat.sync(st.Targets)
		c.lat.hist.Collect(ch)
	}
}

// collectTarget sends the metrics of one target's serving pool.
func collectTarget(ch chan<- prometheus.Metric, t manager.TargetStatus,
	gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64, ...string)) {
	connected := 0.0
	if t.State == fleare.StateConnected {
		connected = 1
	}
	gauge(descConnected, connected, t.Name)
	gauge(descTarget, 1, t.Name, t.Addr)
	gauge(descDesired, float64(t.Desired), t.Name)
	gauge(descOpen, float64(t.Open), t.Name)
	gauge(descIdle, float64(t.Idle), t.Name)
	gauge(descInUse, float64(t.InUse), t.Name)
	gauge(descWaiting, float64(t.Waiting), t.Name)
	counter(descRequests, t.Requests, t.Name)
	counter(descErrors, t.Errors, t.Name)
	counter(descSrvErrors, t.ServerErrors, t.Name)
	counter(descDials, t.DialAttempts, t.Name)
	counter(descDialFails, t.DialFailures, t.Name)
	counter(descReplaced, t.Replaced, t.Name)
	ch <- prometheus.MustNewConstMetric(descWaitTime, prometheus.CounterValue, t.WaitTime.Seconds(), t.Name)
	counter(descQueueFull, t.QueueFull, t.Name)
	counter(descWaits, t.Waits, t.Name)
	gauge(descInFlight, float64(t.InFlight), t.Name)
	counter(descAbandoned, t.Abandoned, t.Name)
	paused := 0.0
	if t.Paused {
		paused = 1
	}
	gauge(descPaused, paused, t.Name)
	gauge(descHeld, float64(t.Held), t.Name)
	stats := reflect.ValueOf(&t.Stats).Elem()
	for _, c := range closeReasons {
		counter(descClosed, stats.Field(c.index).Uint(), t.Name, c.reason)
	}
	collectProxy(t, gauge, counter)
}

// collectLastReload sends whether the last configuration attempt was
// accepted and when an attempt last succeeded. Before the first attempt
// neither is sent; before the first success, no time is.
func collectLastReload(st manager.Status, gauge func(*prometheus.Desc, float64, ...string)) {
	if st.LastReload == nil {
		return
	}
	ok := 0.0
	if st.LastReload.Result != manager.ReloadRejected {
		ok = 1
	}
	gauge(descLastOK, ok)
	if !st.LastSuccess.IsZero() {
		gauge(descLastOKTime, float64(st.LastSuccess.UnixNano())/1e9)
	}
}
