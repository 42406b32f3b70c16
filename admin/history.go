package admin

import (
	"sync"

	"github.com/fleare-manager/fleare-manager/manager"
)

// history keeps the most recent events in a ring, numbered from 0, and wakes
// the streams following it when one is added.
type history struct {
	mu sync.Mutex
	// Guarded by mu.
	ring   []manager.Event // event n is at ring[n%len(ring)]
	next   uint64          // number of the next event
	wake   chan struct{}   // closed and replaced at each add, closed by close
	closed bool
}

func newHistory(n int) *history {
	return &history{ring: make([]manager.Event, n), wake: make(chan struct{})}
}

// add records e and wakes the followers.
func (h *history) add(e manager.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.ring[h.next%uint64(len(h.ring))] = e
	h.next++
	close(h.wake)
	h.wake = make(chan struct{})
}

// close marks the end of the events: the manager is closed.
func (h *history) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.wake)
	}
}

// since returns the events numbered from seq on that the ring still holds
// (older ones are lost to a reader that fell behind), the number to ask for
// next, a channel closed when there is more, and whether there will never
// be more.
func (h *history) since(seq uint64) (evs []manager.Event, next uint64, wake <-chan struct{}, closed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := uint64(len(h.ring))
	seq = max(seq, h.next-min(h.next, n))
	if seq < h.next {
		evs = make([]manager.Event, 0, h.next-seq)
		for i := seq; i < h.next; i++ {
			evs = append(evs, h.ring[i%n])
		}
	}
	return evs, h.next, h.wake, h.closed
}
