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
	armed := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return !p.watchAt.IsZero()
	}
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
		return armed() || t.Failed()
	})
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	at := p.watchAt
	p.mu.Unlock()
	if !at.IsZero() {
		t.Errorf("connection closed with its watch set for %v", at)
	}
}
