package proxy_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// A client trickling a frame a byte at a time is dropped once ReadTimeout
// has passed since the frame began, while other clients are served.
func TestTricklingClientIsDropped(t *testing.T) {
	var ev events
	p, addr := startProxy(t, &stub{}, proxy.Options{ReadTimeout: 200 * time.Millisecond, OnEvent: ev.record})
	r := login(t, addr)
	other := login(t, addr)
	f := testkit.Frame(t, "PING", strings.Repeat("x", 1000))
	sent := 0
	for p.Stats().Dropped.ReadTimeout == 0 {
		if sent == len(f) {
			t.Fatalf("the whole %d-byte frame was trickled in without a drop", len(f))
		}
		if _, err := r.Conn().Write(f[sent : sent+1]); err != nil {
			break // dropped between the check and the write
		}
		sent++
		if resp := other.Call("PING", "meanwhile"); string(resp.GetResult()) != "PONG meanwhile" {
			t.Fatalf("other client: %v", resp)
		}
		time.Sleep(10 * time.Millisecond) // the trickle's pace, not a synchronisation
	}
	waitFor(t, "the drop", func() bool { return p.Stats().Dropped.ReadTimeout == 1 })
	r.ExpectClosed()
	if n := ev.count(proxy.EventClientDropped); n != 1 {
		t.Fatalf("events: %v", ev.list())
	}
}

// A logged-in client may stay idle past every timeout: only a frame that
// has begun is timed.
func TestIdleClientStays(t *testing.T) {
	p, addr := startProxy(t, &stub{}, proxy.Options{
		AuthTimeout: 300 * time.Millisecond, ReadTimeout: 30 * time.Millisecond, WriteTimeout: 30 * time.Millisecond,
	})
	r := login(t, addr)
	time.Sleep(time.Second) // idleness past every timeout is what is tested
	if resp := r.Call("PING", "still"); string(resp.GetResult()) != "PONG still" {
		t.Fatalf("after idling: %v", resp)
	}
	if st := p.Stats(); st.Dropped != (proxy.Drops{}) {
		t.Fatalf("stats: %+v", st)
	}
}

// A client that sends many requests and reads no reply has its replies
// buffered up to the bounds, is no longer read, and is dropped after
// WriteTimeout; the backend carried only the requests within the bounds,
// and other clients were served throughout.
func TestClientNotReadingIsDropped(t *testing.T) { forBackends(t, testClientNotReadingIsDropped) }

func testClientNotReadingIsDropped(t *testing.T, wrap func(*stub) proxy.Backend) {
	value := strings.Repeat("v", 256<<10)
	b := &stub{exec: func(_ context.Context, _ string, args []string) (fleare.Reply, error) {
		if len(args) > 0 && args[0] == "big" {
			return fleare.Reply{Status: "Ok", Result: []byte(value)}, nil
		}
		return fleare.Reply{Status: "Ok", Result: []byte("PONG "), ClientID: "1-x"}, nil
	}}
	var ev events
	p, addr := startProxy(t, wrap(b), proxy.Options{
		WriteTimeout: 300 * time.Millisecond, ClientBuffer: 1 << 20, MaxPipeline: 16, OnEvent: ev.record,
	})
	stuck := login(t, addr)
	const sent = 5000
	var batch bytes.Buffer
	for range sent {
		batch.Write(testkit.Frame(t, "GET", "big"))
	}
	stuck.Write(batch.Bytes()) // about 60 KiB: the socket takes it all
	other := login(t, addr)
	for p.Stats().Dropped.WriteTimeout == 0 {
		if resp := other.Call("PING"); resp.GetStatus() != "Ok" {
			t.Fatalf("other client: %v", resp)
		}
		time.Sleep(5 * time.Millisecond) // pacing the other client, not a synchronisation
	}
	waitFor(t, "the stuck client to be gone", func() bool { return p.Stats().Clients == 1 })
	served := 0
	for _, c := range b.seen() {
		if c == "GET big" {
			served++
		}
	}
	// 256 KiB replies: the bound lets through MaxPipeline replies plus
	// ClientBuffer's worth, plus what the sockets' kernel buffers took.
	if served >= sent/4 {
		t.Fatalf("the backend carried %d of the %d requests of a client reading nothing", served, sent)
	}
	if evs := ev.list(); len(evs) != 1 || evs[0].Kind != proxy.EventClientDropped || !strings.Contains(evs[0].Reason, "unread") {
		t.Fatalf("events: %v", evs)
	}
	t.Logf("backend carried %d requests of the stuck client before it was dropped", served)
}

// The MaxInFlight bound holds across clients, and changes live.
func TestMaxInFlight(t *testing.T) {
	gate := make(chan struct{})
	var inFlight, peak, calls counter
	b := &stub{exec: func(ctx context.Context, _ string, _ []string) (fleare.Reply, error) {
		calls.add(1)
		peak.max(inFlight.add(1))
		defer inFlight.add(-1)
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return fleare.Reply{Status: "Ok", Result: []byte("PONG ")}, nil
	}}
	p, addr := startProxy(t, b, proxy.Options{MaxInFlight: 3})
	clients := make([]*testkit.Raw, 6)
	for i := range clients {
		clients[i] = login(t, addr)
		clients[i].Write(bytes.Repeat(testkit.Frame(t, "PING"), 2))
	}
	waitFor(t, "3 requests in flight", func() bool { return calls.get() == 3 })
	if err := p.Update(proxy.Options{Users: appUsers, MaxInFlight: 5}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new semaphore's 5 more", func() bool { return calls.get() == 8 })
	close(gate)
	for _, r := range clients {
		r.Next()
		r.Next()
	}
	if got := peak.get(); got != 8 {
		t.Fatalf("peak in flight = %d, want 3 + 5 (the old tokens drain into the old bound)", got)
	}
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add(d int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	return c.n
}

func (c *counter) max(v int) {
	c.mu.Lock()
	c.n = max(c.n, v)
	c.mu.Unlock()
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Requests in flight count toward ClientBuffer too: a client pipelining
// large requests is read only while its requests in flight fit in the
// bound, whatever MaxPipeline allows.
func TestClientBufferBoundsRequests(t *testing.T) {
	forBackendsBatching(t, 1, testClientBufferBoundsRequests) // frames this large arrive one per read
}

func testClientBufferBoundsRequests(t *testing.T, wrap func(*stub) proxy.Backend) {
	release, started := make(chan struct{}), make(chan string, 64)
	_, addr := startProxy(t, wrap(blocking(release, started)), proxy.Options{ClientBuffer: 1 << 20, MaxPipeline: 64})
	r := login(t, addr)
	arg := strings.Repeat("a", 256<<10)
	var batch bytes.Buffer
	for range 20 {
		batch.Write(testkit.Frame(t, "GET", "k", arg)) // read-only: they may overlap
	}
	var writer sync.WaitGroup
	defer writer.Wait()
	writer.Go(func() { _, _ = r.Conn().Write(batch.Bytes()) }) // blocks while the proxy reads nothing
	for range 4 {
		<-started // three stay under the bound; the fourth passes it
	}
	select {
	case <-started:
		t.Fatal("a fifth 256 KiB request was read past the 1 MiB bound")
	case <-time.After(200 * time.Millisecond): // a window for a wrong read to show
	}
	close(release)
	for range 20 {
		if resp := r.Next(); resp.GetStatus() != "Ok" {
			t.Fatalf("reply: %v", resp)
		}
	}
}
