package reconcile

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/spec"
)

// benchInputs returns n desired targets and a running state in which every
// hundredth target (at least one) differs, in turn by pool size (resize), a
// timeout (update), the host (replace) and by name (a create and a delete).
func benchInputs(n int) (desired, current *spec.Config) {
	desired = &spec.Config{Version: spec.Version, Targets: make([]spec.Target, n)}
	for i := range n {
		desired.Targets[i] = tgt(fmt.Sprintf("target-%05d", i), host(fmt.Sprintf("10.0.%d.%d", i/256%256, i%256)))
	}
	current = &spec.Config{Version: spec.Version, Targets: slices.Clone(desired.Targets)}
	changed := 0
	for i := 0; i < n; i += 100 {
		r := &current.Targets[i]
		switch changed % 4 {
		case 0:
			r.Pool.Size++
		case 1:
			r.Timeouts.Request = time.Second
		case 2:
			r.Host = "10.255.0.1"
		case 3:
			r.Name += "-old" // still sorted: sorts before the next target
		}
		changed++
	}
	return desired, current
}

var sinkPlan Plan

func BenchmarkDiff10000(b *testing.B) {
	desired, actual := benchInputs(10000)
	b.ReportAllocs()
	for b.Loop() {
		sinkPlan = Diff(desired, actual)
	}
	b.ReportMetric(float64(len(sinkPlan.Actions)), "actions")
}

// BenchmarkDiffScaling shows how the cost grows with the number of targets,
// 1% of them changed.
func BenchmarkDiffScaling(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			desired, actual := benchInputs(n)
			b.ReportAllocs()
			for b.Loop() {
				sinkPlan = Diff(desired, actual)
			}
			b.ReportMetric(float64(len(sinkPlan.Actions)), "actions")
		})
	}
}

// BenchmarkDiff10000Unchanged is the floor of a diff: nothing differs, so
// nothing is allocated.
func BenchmarkDiff10000Unchanged(b *testing.B) {
	desired := &spec.Config{Version: spec.Version}
	for i := range 10000 {
		desired.Targets = append(desired.Targets, tgt(fmt.Sprintf("target-%05d", i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkPlan = Diff(desired, desired)
	}
}

var sinkInt int

// BenchmarkDiff10000Baseline measures, on the same inputs as
// BenchmarkDiff10000, what any diff must pay (compare-only: one == per pair
// of targets) and what a diff that matches names through a map would pay
// before comparing anything (map-join: index actual by name, look up each
// desired name).
func BenchmarkDiff10000Baseline(b *testing.B) {
	desired, actual := benchInputs(10000)
	b.Run("compare-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for i := range desired.Targets {
				if desired.Targets[i] != actual.Targets[i] {
					n++
				}
			}
			sinkInt = n
		}
	})
	b.Run("map-join", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := make(map[string]*spec.Target, len(actual.Targets))
			for i := range actual.Targets {
				m[actual.Targets[i].Name] = &actual.Targets[i]
			}
			n := 0
			for i := range desired.Targets {
				if _, ok := m[desired.Targets[i].Name]; ok {
					n++
				}
			}
			sinkInt = n
		}
	})
}
