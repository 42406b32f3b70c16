package proxy_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/internal/wire"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// A subscriber receives every push, in order, with its own client id,
// while other clients' requests flow through the pool; the replies to its
// own requests keep their order among the pushes; its dedicated connection
// is released when it unsubscribes from everything, and when it leaves.
func TestSubscriberReceivesPushes(t *testing.T) {
	srv := newServer(t)
	p, addr := startProxy(t, newPool(t, srv, 2, 0), proxy.Options{Dial: dialer(srv)})
	ctx := testCtx(t)
	others := appClient(t, addr, 8)
	load := testkit.StartLoad(ctx, 8, 10*time.Second, others.Ping)

	sub := login(t, addr)
	id := sub.Call("SESSION").GetClientId()
	sub.Send("SUBSCRIBE", "news")
	// The PING is read once the subscription is in place.
	if resp := sub.Call("PING", "subscribed"); string(resp.GetResult()) != "PONG subscribed" {
		t.Fatalf("PING after SUBSCRIBE: %v", resp)
	}
	if st := p.Stats(); st.Subscribers != 1 {
		t.Fatalf("stats: %+v", st)
	}

	const msgs, pings = 100, 20
	pub := appClient(t, addr, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range msgs {
			if _, err := pub.Do(ctx, "PUBLISH", "news", fmt.Sprintf("m-%d", i)); err != nil {
				t.Errorf("PUBLISH %d: %v", i, err)
				return
			}
		}
	})
	wg.Go(func() {
		for j := range pings {
			sub.Send("PING", fmt.Sprintf("p-%d", j))
		}
	})
	var pushes, replies int
	for pushes < msgs || replies < pings {
		resp, err := sub.Recv()
		if err != nil {
			t.Fatalf("after %d pushes and %d replies: %v", pushes, replies, err)
		}
		if resp.GetClientId() != id {
			t.Fatalf("frame with client id %q, want the subscriber's own %q", resp.GetClientId(), id)
		}
		if resp.GetTopic() == "" {
			if want := fmt.Sprintf("PONG p-%d", replies); string(resp.GetResult()) != want {
				t.Fatalf("reply %d = %q, want %q", replies, resp.GetResult(), want)
			}
			replies++
			continue
		}
		if want := fmt.Sprintf(`"m-%d"`, pushes); resp.GetTopic() != "news" || string(resp.GetResult()) != want {
			t.Fatalf("push %d = %v, want %s", pushes, resp, want)
		}
		pushes++
	}
	wg.Wait()

	sub.Send("UNSUBSCRIBE", "news")
	if resp := sub.Call("PING"); resp.GetTopic() != "" {
		t.Fatalf("after UNSUBSCRIBE: %v", resp)
	}
	if st := p.Stats(); st.Subscribers != 0 {
		t.Fatalf("the dedicated connection was not released: %+v", st)
	}
	if _, err := pub.Do(ctx, "PUBLISH", "news", "unheard"); err != nil {
		t.Fatal(err)
	}
	if resp := sub.Call("PING", "last"); resp.GetTopic() != "" || string(resp.GetResult()) != "PONG last" {
		t.Fatalf("a push after UNSUBSCRIBE: %v", resp)
	}

	sub.Send("SUBSCRIBE", "a", "b")
	sub.Call("PING")
	if srv.Subscribers("a") != 1 || srv.Subscribers("b") != 1 {
		t.Fatal("not subscribed to a and b")
	}
	sub.Conn().Close()
	waitFor(t, "the subscriber's connection to be released", func() bool {
		return p.Stats().Subscribers == 0 && srv.Subscribers("a") == 0 && srv.Conns() == 2
	})
	if calls := load.Stop(); calls.Failed != 0 || calls.OK == 0 {
		t.Fatalf("other clients: %d ok, %d failed; first: %v", calls.OK, calls.Failed, calls.First)
	}
	if srv.Stranded() != 0 {
		t.Fatalf("%d handshakes stranded", srv.Stranded())
	}
}

// 16 clients subscribing at the same instant get 16 dedicated connections,
// opened one after another: the strict server strands none.
func TestManySubscribersAtOnce(t *testing.T) {
	srv := newServer(t)
	p, addr := startProxy(t, newPool(t, srv, 1, 0), proxy.Options{Dial: dialer(srv)})
	const n = 16
	subs := make([]*testkit.Raw, n)
	for i := range subs {
		subs[i] = login(t, addr)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range subs {
		wg.Go(func() {
			<-start
			r.Write(append(testkit.Frame(t, "SUBSCRIBE", "all"), testkit.Frame(t, "PING")...))
		})
	}
	close(start)
	wg.Wait()
	for _, r := range subs {
		if resp := r.Next(); resp.GetStatus() != "Ok" {
			t.Fatalf("PING after SUBSCRIBE: %v", resp)
		}
	}
	if srv.Subscribers("all") != n || p.Stats().Subscribers != n || srv.Stranded() != 0 {
		t.Fatalf("%d subscribed on the server, %d by the proxy, %d stranded", srv.Subscribers("all"), p.Stats().Subscribers, srv.Stranded())
	}
	pub := login(t, addr)
	pub.Call("PUBLISH", "all", "hi")
	for i, r := range subs {
		resp, err := r.Recv()
		if err != nil || resp.GetTopic() != "all" || string(resp.GetResult()) != `"hi"` {
			t.Fatalf("subscriber %d: %v, %v", i, resp, err)
		}
	}
}

// A subscriber's dedicated connection that is lost is opened again and
// subscribed again; ReconnectSubscribers moves it to wherever Dial now
// points (the server of a swapped endpoint), new before old.
func TestSubscriberReconnects(t *testing.T) {
	servers := []*fleartest.Server{newServer(t), newServer(t)}
	var (
		mu  sync.Mutex
		cur = servers[0]
	)
	pools := []proxy.Backend{newPool(t, servers[0], 1, 0), newPool(t, servers[1], 1, 0)}
	var backend swappable
	backend.set(pools[0])
	dial := func(ctx context.Context) (*fleare.Conn, error) {
		mu.Lock()
		srv := cur
		mu.Unlock()
		return dialer(srv)(ctx)
	}
	p, addr := startProxy(t, &backend, proxy.Options{Dial: dial})
	sub := login(t, addr)
	sub.Send("SUBSCRIBE", "news")
	sub.Call("PING")
	pushes := make(chan *wire.Response, 64)
	var reader sync.WaitGroup
	reader.Go(func() {
		defer close(pushes)
		for {
			resp, err := sub.Recv()
			if err != nil {
				return
			}
			pushes <- resp
		}
	})
	defer reader.Wait()
	defer sub.Conn().Close()
	pub := login(t, addr)

	// The server drops every connection: the pool and the subscriber's
	// link come back, and pushes flow again.
	servers[0].CloseClientConnections()
	expectPushAfter(t, pub, pushes, "after a drop")

	// The endpoint swaps: Dial points at the other server.
	mu.Lock()
	cur = servers[1]
	mu.Unlock()
	backend.set(pools[1])
	p.ReconnectSubscribers()
	waitFor(t, "the link to move", func() bool {
		return servers[1].Subscribers("news") == 1 && servers[0].Subscribers("news") == 0
	})
	expectPushAfter(t, pub, pushes, "after a swap")
	if servers[0].Stranded()+servers[1].Stranded() != 0 {
		t.Fatal("handshakes stranded")
	}
	if st := p.Stats(); st.Subscribers != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// A reconnect asked for while the subscriber's link is being dialed (the
// endpoint moved on again meanwhile) discards the link that dial opens, which
// may be on the server just left, and keeps the old one until a dial made
// after the last reconnect has subscribed: the subscription never moves to a
// server the target no longer points at.
func TestSubscriberReconnectDuringDial(t *testing.T) {
	a, b := newServer(t), newServer(t)
	type dialing struct {
		srv     *fleartest.Server
		release chan struct{}
	}
	var (
		mu    sync.Mutex
		cur   = a
		hold  bool
		dials = make(chan dialing)
	)
	dial := func(ctx context.Context) (*fleare.Conn, error) {
		mu.Lock()
		srv, held := cur, hold
		mu.Unlock()
		if held {
			d := dialing{srv, make(chan struct{})}
			select {
			case dials <- d:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			select {
			case <-d.release:
			case <-ctx.Done(): // the test failed and closes the proxy
				return nil, ctx.Err()
			}
		}
		return dialer(srv)(ctx)
	}
	next := func(want *fleartest.Server) dialing {
		t.Helper()
		select {
		case d := <-dials:
			if d.srv != want {
				t.Fatalf("dial to %s, want %s", d.srv.Addr(), want.Addr())
			}
			return d
		case <-time.After(20 * time.Second):
			t.Fatal("no dial")
		}
		panic("unreachable")
	}
	p, addr := startProxy(t, newPool(t, a, 1, 0), proxy.Options{Dial: dial})
	sub := login(t, addr)
	sub.Send("SUBSCRIBE", "news")
	sub.Call("PING")

	// The endpoint moves to b, and back to a while the dial to b is held.
	mu.Lock()
	cur, hold = b, true
	mu.Unlock()
	p.ReconnectSubscribers()
	toB := next(b)
	mu.Lock()
	cur = a
	mu.Unlock()
	p.ReconnectSubscribers()
	close(toB.release)
	toA := next(a) // the dial made after the last reconnect
	waitFor(t, "the link opened on b to be closed", func() bool { return b.Conns() == 0 })
	if b.Subscribers("news") != 0 || a.Subscribers("news") != 1 || p.Stats().Subscribers != 1 {
		t.Fatalf("while the last dial runs: %d subscribed on a (want the old link), %d on b, %d counted",
			a.Subscribers("news"), b.Subscribers("news"), p.Stats().Subscribers)
	}
	mu.Lock()
	hold = false
	mu.Unlock()
	close(toA.release)
	// The new link on a replaces the old one; pushes flow.
	waitFor(t, "the old link to be closed", func() bool { return a.Conns() == 2 && a.Subscribers("news") == 1 })
	login(t, addr).Call("PUBLISH", "news", "still here")
	if resp, err := sub.Recv(); err != nil || resp.GetTopic() != "news" {
		t.Fatalf("push after the reconnects: %v, %v", resp, err)
	}
	if a.Stranded()+b.Stranded() != 0 {
		t.Fatal("handshakes stranded")
	}
}

// expectPushAfter publishes msg through pub until a push of it arrives:
// the pool and the subscriber's link may still be coming back.
func expectPushAfter(t *testing.T, pub *testkit.Raw, pushes <-chan *wire.Response, msg string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		pub.Call("PUBLISH", "news", msg) // an "Error" while the pool reconnects
		wait := time.After(20 * time.Millisecond)
		for {
			select {
			case resp, ok := <-pushes:
				if !ok {
					t.Fatalf("subscriber closed, waiting for %q", msg)
				}
				if resp.GetTopic() == "news" && string(resp.GetResult()) == fmt.Sprintf("%q", msg) {
					return
				}
				continue
			case <-wait:
			case <-deadline:
				t.Fatalf("no push of %q", msg)
			}
			break
		}
	}
}

// swappable is a backend whose target changes, as a manager target's does.
type swappable struct {
	mu sync.Mutex
	b  proxy.Backend
}

func (s *swappable) set(b proxy.Backend) {
	s.mu.Lock()
	s.b = b
	s.mu.Unlock()
}

func (s *swappable) Exec(ctx context.Context, command string, args ...string) (fleare.Reply, error) {
	s.mu.Lock()
	b := s.b
	s.mu.Unlock()
	return b.Exec(ctx, command, args...)
}
