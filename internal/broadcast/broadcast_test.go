package broadcast

import (
	"runtime"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recv reads one value or fails the test if the channel is closed or empty.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("channel closed, want a value")
		}
		return v
	default:
		t.Fatal("channel empty, want a value")
		panic("unreachable")
	}
}

// drain reads until ch is closed and returns what it read.
func drain[T any](ch <-chan T) []T {
	var got []T
	for v := range ch {
		got = append(got, v)
	}
	return got
}

func TestEverySubscriberSeesEventsInOrder(t *testing.T) {
	b := New[int]()
	const n = 500
	chans := make([]<-chan int, 3)
	for i := range chans {
		chans[i], _ = b.Subscribe(n)
	}
	for i := range n {
		b.Publish(i)
	}
	b.Close()
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	for i, ch := range chans {
		if got := drain(ch); !slices.Equal(got, want) {
			t.Errorf("subscriber %d got %d events, out of order or missing: first %v", i, len(got), got[:min(len(got), 10)])
		}
	}
	if d := b.Dropped(); d != 0 {
		t.Errorf("Dropped() = %d, want 0", d)
	}
}

// Concurrent publishers are serialised: every subscriber sees the same order.
func TestConcurrentPublishersGiveOneOrder(t *testing.T) {
	b := New[int]()
	const publishers, each = 4, 200
	a, _ := b.Subscribe(publishers * each)
	c, _ := b.Subscribe(publishers * each)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				b.Publish(p*each + i)
			}
		})
	}
	wg.Wait()
	b.Close()
	ga, gc := drain(a), drain(c)
	if len(ga) != publishers*each || !slices.Equal(ga, gc) {
		t.Fatalf("subscribers disagree: %d and %d events, equal=%v", len(ga), len(gc), slices.Equal(ga, gc))
	}
	// Each publisher's own events keep their relative order.
	last := make([]int, publishers)
	for i := range last {
		last[i] = -1
	}
	for _, v := range ga {
		p, i := v/each, v%each
		if i <= last[p] {
			t.Fatalf("publisher %d: event %d after %d", p, i, last[p])
		}
		last[p] = i
	}
}

func TestSlowSubscriberDropsAndIsCounted(t *testing.T) {
	b := New[int]()
	defer b.Close()
	fast, _ := b.Subscribe(100)
	slow, _ := b.Subscribe(2)
	for i := range 10 {
		b.Publish(i)
	}
	if d := b.Dropped(); d != 8 {
		t.Errorf("Dropped() = %d, want 8", d)
	}
	// The slow subscriber kept the oldest events it had room for.
	if a, c := recv(t, slow), recv(t, slow); a != 0 || c != 1 {
		t.Errorf("slow subscriber got %d, %d; want 0, 1", a, c)
	}
	// Having caught up, it receives again; the fast one got everything.
	b.Publish(10)
	if v := recv(t, slow); v != 10 {
		t.Errorf("slow subscriber got %d after catching up, want 10", v)
	}
	for i := range 11 {
		if v := recv(t, fast); v != i {
			t.Fatalf("fast subscriber got %d, want %d", v, i)
		}
	}
	// A subscriber with no buffer and no waiting reader loses everything.
	_, cancel := b.Subscribe(-1)
	defer cancel()
	b.Publish(11)
	if d := b.Dropped(); d != 9 {
		t.Errorf("Dropped() = %d, want 9", d)
	}
}

func TestCancel(t *testing.T) {
	b := New[string]()
	defer b.Close()
	keep, _ := b.Subscribe(4)
	ch, cancel := b.Subscribe(4)
	b.Publish("a")
	cancel()
	cancel() // idempotent
	if got := drain(ch); !slices.Equal(got, []string{"a"}) {
		t.Errorf("cancelled subscriber read %q, want the buffered [a] then close", got)
	}
	if n := subscribers(b); n != 1 {
		t.Errorf("%d subscribers after cancel, want 1", n)
	}
	b.Publish("b")
	if v := recv(t, keep); v != "a" {
		t.Errorf("remaining subscriber got %q, want a", v)
	}
	if v := recv(t, keep); v != "b" {
		t.Errorf("remaining subscriber got %q, want b", v)
	}
}

// Cancel racing Publish must never send on a closed channel; run with -race.
func TestCancelDuringPublish(t *testing.T) {
	b := New[int]()
	var pubs, subs sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		pubs.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
					b.Publish(i)
					runtime.Gosched() // let subscribers at the lock
				}
			}
		})
	}
	for range 4 {
		subs.Go(func() {
			for range 100 {
				ch, cancel := b.Subscribe(1)
				<-ch // publishers are running, so a value arrives
				var readers sync.WaitGroup
				readers.Go(func() { drain(ch) })
				cancel()
				cancel()
				readers.Wait() // returns only because cancel closed ch
			}
		})
	}
	subs.Wait()
	close(stop)
	pubs.Wait()
	if n := subscribers(b); n != 0 {
		t.Errorf("%d subscribers after every cancel, want 0", n)
	}
	b.Close()
}

func TestClose(t *testing.T) {
	b := New[int]()
	a, cancelA := b.Subscribe(2)
	c, _ := b.Subscribe(2)
	b.Publish(1)
	b.Close()
	b.Close() // idempotent
	cancelA() // after Close: no double close
	b.Publish(2)
	for name, ch := range map[string]<-chan int{"a": a, "c": c} {
		if got := drain(ch); !slices.Equal(got, []int{1}) {
			t.Errorf("subscriber %s read %v after Close, want [1] then close", name, got)
		}
	}
	late, cancelLate := b.Subscribe(1)
	if _, ok := <-late; ok {
		t.Error("Subscribe after Close returned an open channel")
	}
	cancelLate()
	if n := subscribers(b); n != 0 {
		t.Errorf("%d subscribers after Close, want 0", n)
	}
}

// subscribers returns the number of current subscribers of b.
func subscribers[T any](b *Broadcaster[T]) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// An observer sees every value, in order, before Publish returns, even
// where a subscriber with no room loses them; cancel stops it, Close calls
// its closed function once, and Observe after Close calls it at once.
func TestObserve(t *testing.T) {
	b := New[int]()
	var seen []int
	closes := 0
	cancel := b.Observe(func(v int) { seen = append(seen, v) }, func() { closes++ })
	full, cancelFull := b.Subscribe(0) // nobody receiving: every value lost
	defer cancelFull()
	for i := range 100 {
		b.Publish(i)
		if len(seen) != i+1 || seen[i] != i {
			t.Fatalf("after Publish(%d) the observer has %v", i, seen)
		}
	}
	if b.Dropped() != 100 {
		t.Errorf("subscriber dropped %d, want 100", b.Dropped())
	}
	select {
	case v := <-full:
		t.Errorf("a subscriber without room got %d", v)
	default:
	}

	var other []int
	b.Observe(func(v int) { other = append(other, v) }, func() { closes++ })
	cancel()
	cancel() // idempotent
	b.Publish(100)
	if len(seen) != 100 || !slices.Equal(other, []int{100}) {
		t.Errorf("after cancel: first observer %d values, second %v", len(seen), other)
	}
	b.Close()
	b.Close()
	if closes != 1 { // the cancelled observer is not told
		t.Errorf("closed called %d times, want 1", closes)
	}
	b.Observe(func(int) { t.Error("an observer called after Close") }, func() { closes++ })
	b.Publish(101)
	if closes != 2 {
		t.Errorf("Observe after Close: closed called %d times in all, want 2", closes)
	}
}

// Observers of concurrent publishers see one order, the same for all.
func TestObserversShareOneOrder(t *testing.T) {
	b := New[int]()
	var x, y []int
	b.Observe(func(v int) { x = append(x, v) }, func() {})
	b.Observe(func(v int) { y = append(y, v) }, func() {})
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			for i := range 250 {
				b.Publish(p*1000 + i)
			}
		})
	}
	wg.Wait()
	if len(x) != 1000 || !slices.Equal(x, y) {
		t.Fatalf("observers saw %d and %d values, equal: %v", len(x), len(y), slices.Equal(x, y))
	}
}
