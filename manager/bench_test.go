package manager_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// BenchmarkReloadLatency measures the time from a saved file to its
// config.applied event with the default options (50ms debounce), a resize
// each time, and reports the median and 95th percentile. The baseline,
// "apply", makes the same change through Apply: no file, no debounce.
//
//	go test -run='^$' -bench=ReloadLatency -benchtime=40x ./manager
func BenchmarkReloadLatency(b *testing.B) {
	s := fleartest.NewServer(b, fleartest.Options{Users: testkit.Users()})
	configs := [2]string{testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2}), testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 3})}

	b.Run("file", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "fleare.yaml")
		testkit.WriteFile(b, path, configs[0])
		m := testkit.NewManager(b, manager.Options{})
		events, cancel := m.Subscribe()
		defer cancel()
		if err := m.WatchFile(testkit.Context(b), path); err != nil {
			b.Fatal(err)
		}
		waitApplied(b, events) // the initial load
		reportLatency(b, func(i int) {
			testkit.WriteFile(b, path, configs[(i+1)%2])
			waitApplied(b, events)
		})
	})
	b.Run("apply", func(b *testing.B) {
		m := testkit.NewManager(b, manager.Options{})
		testkit.Apply(b, m, configs[0])
		reportLatency(b, func(i int) {
			testkit.Apply(b, m, configs[(i+1)%2])
		})
	})
}

// reportLatency runs step once per iteration and reports the median and
// 95th percentile of its duration in milliseconds.
func reportLatency(b *testing.B, step func(i int)) {
	b.ReportAllocs()
	var took []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		step(i)
		took = append(took, time.Since(start))
		i++
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(took[len(took)/2]), "median-ms")
	b.ReportMetric(ms(took[len(took)*95/100]), "p95-ms")
}

func waitApplied(b *testing.B, events <-chan manager.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		select {
		case e := <-events:
			if e.Type == manager.EventConfigApplied {
				return
			}
		case <-ctx.Done():
			b.Fatal("no config.applied within 10s")
		}
	}
}
