package filewatch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reportLatency reports the median and 95th percentile of d in ms.
func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	ms := func(q float64) float64 {
		return float64(d[int(q*float64(len(d)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.5), "median-ms")
	b.ReportMetric(ms(0.95), "p95-ms")
	b.ReportMetric(0, "ns/op") // the wall time per op is the latency itself
}

// BenchmarkDeliveryLatency measures the time from the start of a save to the
// Update carrying it, with the default Options (50 ms debounce). Compare with
// BenchmarkBaselineFsnotify: the difference is the debounce plus the read and
// hash.
func BenchmarkDeliveryLatency(b *testing.B) {
	for _, save := range []string{"in-place", "rename"} {
		b.Run(save, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte("v0"), 0o644); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, err := Watch(ctx, path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			<-ch
			b.ReportAllocs() // the watcher's, per delivered save
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				want := fmt.Sprintf("v%d", i)
				start := time.Now()
				saveFile(b, save, path, want)
				for u := range ch {
					if string(u.Data) == want {
						break
					}
				}
				lat = append(lat, time.Since(start))
			}
			reportLatency(b, lat)
		})
	}
}

// BenchmarkBaselineFsnotify measures the time from the start of a save to
// the first fsnotify event naming the file, on a bare watch of its directory:
// the floor any fsnotify-based watcher starts from.
func BenchmarkBaselineFsnotify(b *testing.B) {
	for _, save := range []string{"in-place", "rename"} {
		b.Run(save, func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "config.yaml")
			fsw, err := fsnotify.NewWatcher()
			if err != nil {
				b.Fatal(err)
			}
			defer fsw.Close()
			if err := fsw.Add(dir); err != nil {
				b.Fatal(err)
			}
			arrivals := make(chan time.Time, 1024)
			done := make(chan struct{})
			go func() { // stamps each event for path as it arrives
				defer close(done)
				for ev := range fsw.Events {
					if ev.Name == path {
						select {
						case arrivals <- time.Now():
						default:
						}
					}
				}
			}()
			var lat []time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				saveFile(b, save, path, fmt.Sprintf("v%d", i))
				for at := range arrivals {
					if at.After(start) { // skip late events of the previous save
						lat = append(lat, at.Sub(start))
						break
					}
				}
			}
			fsw.Close()
			<-done
			reportLatency(b, lat)
		})
	}
}

func saveFile(b *testing.B, how, path, content string) {
	b.Helper()
	var err error
	switch how {
	case "in-place":
		err = os.WriteFile(path, []byte(content), 0o644)
	case "rename":
		tmp := path + ".tmp"
		if err = os.WriteFile(tmp, []byte(content), 0o644); err == nil {
			err = os.Rename(tmp, path)
		}
	}
	if err != nil {
		b.Fatal(err)
	}
}
