package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Register adds src's metrics and lat's latency histograms (lat may be nil)
// to reg, for an application that serves its own registry.
func Register(reg prometheus.Registerer, src Source, lat *Metrics) error {
	return reg.Register(NewCollector(src, lat))
}

// Handler returns an http.Handler serving src's metrics, lat's latency
// histograms (lat may be nil), and the Go runtime and process metrics
// (go_*, process_*) in the Prometheus exposition format, from a registry of
// its own: mount it at GET /metrics.
func Handler(src Source, lat *Metrics) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src, lat),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		// A failing collector should not hide the others' metrics.
		ErrorHandling: promhttp.ContinueOnError,
	})
}
