package fleare

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// A call the watch has woken (its deadline passed) and that is handed the
// reader role before it runs gets one token, not two: a second would stay
// in its channel and wake the next user of the recycled call for nothing,
// as a second reader.
func TestHandOffToCallWokenByWatch(t *testing.T) {
	p := &pipe{}
	c := calls.Get().(*call)
	c.watched = true
	p.queue.push(c)
	p.mu.Lock()
	c.expired = true
	c.signalLocked() // as watchFired does
	p.reading = true
	if drain := p.handOffLocked(); drain {
		t.Fatal("a drain was asked for with a waiting call queued")
	}
	p.mu.Unlock()
	if n := len(c.done); n != 1 || !c.lead {
		t.Fatalf("%d tokens, lead %v: want one token handing the role", n, c.lead)
	}
	<-c.done
	p.queue.pop()
	putCall(c)
}

// A pipelined connection the pool takes out (here, the client closing)
// stops its watch: a watch left set would keep the pipe, its connection
// and its buffers in memory until the request timeout of a call long
// answered, which a thousand reloads turn into megabytes.
func TestRemovedPipeStopsItsWatch(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 1, Pipeline: DefaultPipeline, RequestTimeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	// Slow replies make callers wait behind the one reading; a waiting
	// caller without a context deadline sets the watch.
	srv.SetLatency(20 * time.Millisecond)
	c.mu.Lock()
	p := c.shared[0].pipe
	c.mu.Unlock()
	waitFor(t, func() bool { // one round does it unless the machine stalls
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if err := c.Ping(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		return watchSet(p) || t.Failed()
	})
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if watchSet(p) {
		t.Error("connection closed with its watch set")
	}
}

// A pipelined connection retired with requests waiting on it (here by
// Reconnect) is closed by its last request, which stops its watch.
func TestRetiredPipeStopsItsWatch(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 1, Pipeline: DefaultPipeline, RequestTimeout: time.Hour})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	old := c.shared[0]
	c.mu.Unlock()
	srv.SetLatency(100 * time.Millisecond)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := c.Ping(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	// The callers behind the one reading set the watch; Reconnect then
	// retires the connection while they wait.
	waitFor(t, func() bool { return watchSet(old.pipe) })
	if err := c.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	waitFor(t, func() bool { return old.conn.closed.Load() })
	if watchSet(old.pipe) {
		t.Error("the retired connection was closed with its watch set")
	}
}

// watchSet reports whether p's watch is set.
func watchSet(p *pipe) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.watchAt.IsZero()
}
