package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleare-manager/fleare-manager/metrics"
)

// BenchmarkObserve measures the cost Metrics.Observe adds to every request
// made through a manager Client, against two baselines: a histogram vector
// looked up by label at each call (what a plain HistogramVec costs), and a
// single histogram with no label lookup (the floor).
func BenchmarkObserve(b *testing.B) {
	b.Run("metrics.Observe", func(b *testing.B) {
		lat := metrics.New(metrics.Options{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				lat.Observe(context.Background(), "cache-primary", 250*time.Microsecond, nil)
			}
		})
	})
	b.Run("baseline=HistogramVec.WithLabelValues", func(b *testing.B) {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "x", Buckets: metrics.DefaultBuckets}, []string{"target"})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.WithLabelValues("cache-primary").Observe((250 * time.Microsecond).Seconds())
			}
		})
	})
	b.Run("baseline=Histogram", func(b *testing.B) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x", Buckets: metrics.DefaultBuckets})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.Observe((250 * time.Microsecond).Seconds())
			}
		})
	})
}
