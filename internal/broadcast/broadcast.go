package broadcast

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Broadcaster delivers each published value to every current subscriber. The
// zero value is not usable; call New. All methods are safe for concurrent use.
type Broadcaster[T any] struct {
	mu     sync.Mutex
	subs   []*subscriber[T] // guarded by mu; order is irrelevant
	obs    []*observer[T]   // guarded by mu
	closed bool             // guarded by mu; set once by Close

	dropped atomic.Uint64 // events lost by any subscriber, ever; written under mu
}

// subscriber is one Subscribe call. Its channel is closed exactly once, by
// whoever removes it from Broadcaster.subs while holding mu.
type subscriber[T any] struct {
	ch chan T
}

// observer is one Observe call.
type observer[T any] struct {
	f      func(T)
	closed func()
}

// New returns a Broadcaster with no subscribers.
func New[T any]() *Broadcaster[T] {
	return &Broadcaster[T]{}
}

// Publish calls every observer with v (see Observe), then offers v to every
// subscriber and returns without waiting for any of them: a subscriber whose
// buffer is full loses v, which is counted (see Dropped). Publish after Close
// does nothing. Publish itself never allocates.
func (b *Broadcaster[T]) Publish(v T) {
	var lost uint64
	b.mu.Lock()
	for _, o := range b.obs {
		o.f(v)
	}
	for _, s := range b.subs {
		select {
		case s.ch <- v:
		default:
			lost++
		}
	}
	if lost > 0 {
		b.dropped.Add(lost)
	}
	b.mu.Unlock()
}

// Subscribe registers a subscriber with room for buffer undelivered events
// (a negative buffer counts as 0: the subscriber then receives an event only
// if it is already waiting in a receive when it is published). It returns the
// channel to read and a cancel func that unsubscribes and closes the channel.
// Cancel is idempotent and may be called from any goroutine, including while
// Publish runs. After Close, Subscribe returns an already closed channel.
func (b *Broadcaster[T]) Subscribe(buffer int) (<-chan T, func()) {
	s := &subscriber[T]{ch: make(chan T, max(buffer, 0))}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(s.ch)
		return s.ch, func() {}
	}
	b.subs = append(b.subs, s)
	return s.ch, func() { b.remove(s) }
}

// Observe registers f to be called with every value published from now on,
// by Publish itself, before it returns: an observer never lags and never
// loses a value. Calls are made one at a time, in the order of the values,
// with the Broadcaster's lock held, so f must be quick, must not block and
// must not call the Broadcaster. closed is called once by Close (at once
// if the Broadcaster is closed already), not by cancel. cancel is
// idempotent; after it returns, f is not called again.
func (b *Broadcaster[T]) Observe(f func(T), closed func()) (cancel func()) {
	o := &observer[T]{f: f, closed: closed}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		closed()
		return func() {}
	}
	b.obs = append(b.obs, o)
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.obs = slices.DeleteFunc(b.obs, func(x *observer[T]) bool { return x == o })
	}
}

// remove unsubscribes s and closes its channel, unless that has happened.
func (b *Broadcaster[T]) remove(s *subscriber[T]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.subs, s)
	if i < 0 {
		return // cancelled before, or closed by Close
	}
	last := len(b.subs) - 1
	b.subs[i] = b.subs[last]
	b.subs[last] = nil
	b.subs = b.subs[:last]
	close(s.ch)
}

// Close closes every subscriber's channel and makes later Publish calls do
// nothing and later Subscribe calls return a closed channel. Events already
// buffered stay readable. Close is idempotent.
func (b *Broadcaster[T]) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for i, s := range b.subs {
		close(s.ch)
		b.subs[i] = nil
	}
	b.subs = nil
	for _, o := range b.obs {
		o.closed()
	}
	b.obs = nil
}

// Dropped returns how many events have been lost across all subscribers,
// including ones since cancelled. An event lost by three subscribers counts
// three times.
func (b *Broadcaster[T]) Dropped() uint64 {
	return b.dropped.Load()
}
