package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleare-manager/fleare-manager/manager"
)

// namespace prefixes every metric name.
const namespace = "fleare_manager"

// DefaultBuckets are the request latency histogram's upper bounds, in
// seconds: from 50µs (a PING on loopback) to 30s (the default request
// timeout).
var DefaultBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// Options configure Metrics.
type Options struct {
	// Buckets are the upper bounds, in seconds, of the request latency
	// histogram. Default DefaultBuckets.
	Buckets []float64
}

// Metrics records the latency of requests made through manager Clients, one
// histogram per target. Pass its Observe method as
// manager.Options.RequestObserver, then expose it with Register or Handler.
// It is safe for concurrent use. The zero value is not usable: call New.
type Metrics struct {
	hist *prometheus.HistogramVec

	// cache maps a target name to its histogram child, so that Observe
	// allocates nothing and takes no lock once a target has been seen.
	// Entries are added under mu and removed under mu, by prune.
	cache sync.Map // string -> prometheus.Observer
	mu    sync.Mutex
}

// New returns Metrics with no observations.
func New(o Options) *Metrics {
	buckets := o.Buckets
	if len(buckets) == 0 {
		buckets = DefaultBuckets
	}
	return &Metrics{
		hist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "request_duration_seconds",
			Help:      "Time taken by requests made through a manager Client, waiting for a connection included.",
			Buckets:   buckets,
		}, []string{"target"}),
	}
}

// Observe records one request. Its signature is that of
// manager.Options.RequestObserver. Calls to a target that is not configured
// (manager.ErrUnknownTarget, manager.ErrTargetRemoved) are not recorded, so
// that a mistyped name cannot add a series. Once a target has been seen,
// Observe takes no lock and allocates nothing.
func (m *Metrics) Observe(_ context.Context, target string, took time.Duration, err error) {
	if err != nil && (errors.Is(err, manager.ErrUnknownTarget) || errors.Is(err, manager.ErrTargetRemoved)) {
		return
	}
	m.observer(target).Observe(took.Seconds())
}

// observer returns the histogram of target, creating it if needed.
func (m *Metrics) observer(target string) prometheus.Observer {
	if o, ok := m.cache.Load(target); ok {
		return o.(prometheus.Observer)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.cache.Load(target); ok {
		return o.(prometheus.Observer)
	}
	o := m.hist.WithLabelValues(target)
	m.cache.Store(target, o)
	return o
}

// sync makes the histograms match the configured targets: each configured
// target has one (with zero counts until its first request), and the
// histograms of targets no longer configured are dropped. An observation
// racing with the removal of its target may be lost; it could only have
// been for a target that is gone.
func (m *Metrics) sync(targets []manager.TargetStatus) {
	live := make(map[string]struct{}, len(targets))
	for _, t := range targets {
		live[t.Name] = struct{}{}
		m.observer(t.Name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cache.Range(func(k, _ any) bool {
		name := k.(string)
		if _, ok := live[name]; !ok {
			m.cache.Delete(name)
			m.hist.DeleteLabelValues(name)
		}
		return true
	})
}
