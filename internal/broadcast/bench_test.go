package broadcast

import (
	"fmt"
	"testing"
	"time"
)

// event is a typical payload: a few words and a timestamp, passed by value.
type event struct {
	Kind, Target string
	At           time.Time
	Old, New     int
}

var subCounts = []int{0, 1, 8}

// BenchmarkPublish measures Publish when every subscriber takes the event
// (the benchmark drains each channel after each Publish) and when every
// subscriber's buffer is full (each event is dropped and counted).
func BenchmarkPublish(b *testing.B) {
	for _, n := range subCounts {
		b.Run(fmt.Sprintf("subs=%d/deliver", n), func(b *testing.B) {
			br := New[event]()
			defer br.Close()
			chans := make([]<-chan event, n)
			for i := range chans {
				chans[i], _ = br.Subscribe(1)
			}
			ev := event{Kind: "target.resized", Target: "cache", At: time.Now(), Old: 4, New: 8}
			b.ReportAllocs()
			for b.Loop() {
				br.Publish(ev)
				for _, ch := range chans {
					<-ch
				}
			}
		})
		b.Run(fmt.Sprintf("subs=%d/drop", n), func(b *testing.B) {
			br := New[event]()
			defer br.Close()
			for range n {
				br.Subscribe(0)
			}
			ev := event{Kind: "target.resized", Target: "cache", At: time.Now(), Old: 4, New: 8}
			b.ReportAllocs()
			for b.Loop() {
				br.Publish(ev)
			}
		})
	}
}

// BenchmarkBaselineChanSend is the floor Publish is compared against: the
// same non-blocking sends on plain channels, with no lock and no counting.
func BenchmarkBaselineChanSend(b *testing.B) {
	for _, n := range subCounts {
		b.Run(fmt.Sprintf("subs=%d/deliver", n), func(b *testing.B) {
			chans := make([]chan event, n)
			for i := range chans {
				chans[i] = make(chan event, 1)
			}
			ev := event{Kind: "target.resized", Target: "cache", At: time.Now(), Old: 4, New: 8}
			b.ReportAllocs()
			for b.Loop() {
				for _, ch := range chans {
					select {
					case ch <- ev:
					default:
					}
				}
				for _, ch := range chans {
					<-ch
				}
			}
		})
		b.Run(fmt.Sprintf("subs=%d/drop", n), func(b *testing.B) {
			chans := make([]chan event, n)
			for i := range chans {
				chans[i] = make(chan event)
			}
			ev := event{Kind: "target.resized", Target: "cache", At: time.Now(), Old: 4, New: 8}
			b.ReportAllocs()
			for b.Loop() {
				for _, ch := range chans {
					select {
					case ch <- ev:
					default:
					}
				}
			}
		})
	}
}

// BenchmarkPublishParallel measures contention between concurrent publishers
// with 8 subscribers whose buffers are full.
func BenchmarkPublishParallel(b *testing.B) {
	br := New[event]()
	defer br.Close()
	for range 8 {
		br.Subscribe(0)
	}
	ev := event{Kind: "connected", Target: "cache", At: time.Now()}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			br.Publish(ev)
		}
	})
}
