package manager_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/reconcile"
)

// Apps connected through a target's proxy stay connected while the target
// is paused: their requests are held (none reaches the server), then
// completed after Resume, in each app's order, with no app disconnected
// and no request failed.
func TestProxyClientsHeldWhilePaused(t *testing.T) {
	srv := strictServer(t, testkit.Users())
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	ctx := testkit.Context(t)
	// A long request timeout: the held requests must wait for Resume, not
	// for a deadline, however slow the machine.
	yaml := strings.Replace(proxyYAML(proxyTarget{name: "a", srv: srv, size: 2, listen: "127.0.0.1:0"}),
		"request: 20s", "request: 5m", 1)
	testkit.Apply(t, m, yaml)
	testkit.WaitConns(t, srv, 2)
	addr := m.ListenAddr("a")
	host, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)

	const apps = 8
	var drops atomic.Int64
	clients := make([]*fleare.Client, apps)
	for i := range clients {
		c := fleare.NewClient(host, port, fleare.Options{
			PoolSize: 1, Username: appUser, Password: appPass,
			ConnectTimeout: 10 * time.Second, RequestTimeout: 5 * time.Minute, MaxRetries: 1, RetryInterval: 10 * time.Millisecond,
			OnEvent: func(e fleare.Event) {
				if e.Type == fleare.EventDisconnected {
					drops.Add(1)
				}
			},
		})
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	pipelined := testkit.RawLogin(t, addr, appUser, appPass)
	if err := m.Pause(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	ev.Wait(t, 0, "paused", testkit.Is(manager.EventTargetPaused, "a"))
	served := srv.Requests()
	accepted := m.Status().Targets[0].Proxy.Accepted

	// Each app sends a SET; the raw app pipelines a SET, then a GET and a
	// PING that the proxy runs after the SET (a client's requests take
	// effect in the order sent), so the pool holds apps+1 requests.
	errs := make([]error, apps)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { errs[i] = c.Set(ctx, fmt.Sprintf("k%d", i), "v") })
	}
	pipelined.Send("SET", "p", "after-resume")
	pipelined.Send("GET", "p")
	pipelined.Send("PING", "last")
	testkit.WaitStatus(t, m, fmt.Sprintf("%d requests held", apps+1), heldOn(srv.Addr(), apps+1))
	if got := srv.Requests(); got != served {
		t.Fatalf("the server served %d requests while the target was paused", got-served)
	}
	ps := m.Status().Targets[0].Proxy
	if ps.Clients != apps+1 || ps.Accepted != accepted {
		t.Fatalf("while paused: proxy status %+v, want %d clients and no new connection", ps, apps+1)
	}

	if err := m.Resume("a"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("app %d: held SET: %v", i, err)
		}
	}
	for i, want := range []struct{ status, result string }{{"Ok", ""}, {"Ok", "after-resume"}, {"Ok", "PONG last"}} {
		resp, err := pipelined.Recv()
		if err != nil {
			t.Fatalf("pipelined reply %d: %v", i, err)
		}
		if resp.GetStatus() != want.status || string(resp.GetResult()) != want.result {
			t.Errorf("pipelined reply %d: %v, want %s %q", i, resp, want.status, want.result)
		}
	}
	for i, c := range clients {
		if v, err := c.Get(ctx, fmt.Sprintf("k%d", i)); err != nil || v != "v" {
			t.Errorf("app %d after Resume: Get = %q, %v", i, v, err)
		}
	}
	if resp := pipelined.Call("PING"); resp.GetStatus() != "Ok" {
		t.Errorf("raw app after Resume: %v", resp)
	}
	if n := drops.Load(); n != 0 {
		t.Errorf("%d app disconnects", n)
	}
	ps = m.Status().Targets[0].Proxy
	if ps.Clients != apps+1 || ps.Accepted != accepted || ps.Errors != 0 || ps.Dropped != (manager.ProxyDrops{}) {
		t.Errorf("after Resume: proxy status %+v", ps)
	}
	if srv.Stranded() != 0 {
		t.Errorf("%d handshakes stranded at the server", srv.Stranded())
	}
}

// Removing a target's listen section, the target kept, is an in-place
// update: the proxy stops listening and drains its apps (a request in
// flight is answered first), and the pool goes on serving.
func TestProxyListenSectionRemoved(t *testing.T) {
	srv := strictServer(t, testkit.Users())
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	ctx := testkit.Context(t)
	testkit.Apply(t, m, proxyYAML(proxyTarget{name: "a", srv: srv, size: 2, listen: "127.0.0.1:0"}))
	testkit.WaitConns(t, srv, 2)
	addr := m.ListenAddr("a")
	app, err := appConn(t, addr, appUser, appPass, nil)
	if err != nil {
		t.Fatal(err)
	}
	accepted := srv.Accepted()
	answered := requestInFlight(t, ctx, m, srv, app)
	res := testkit.Apply(t, m, proxyYAML(proxyTarget{name: "a", srv: srv, size: 2}))
	if len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Update {
		t.Fatalf("plan:\n%s", res.Plan)
	}
	if err := <-answered; err != nil {
		t.Errorf("request in flight during the removal: %v", err)
	}
	e, _ := ev.Wait(t, 0, "proxy.closed", testkit.Is(manager.EventProxyClosed, "a"))
	if e.Error != "" || e.Old != "listen removed" {
		t.Errorf("event %+v", e)
	}
	if nc, err := net.Dial("tcp", addr); err == nil {
		nc.Close()
		t.Errorf("the address still accepts after its listen section was removed")
	}
	srv.SetLatency(0)
	if err := m.Client("a").Ping(ctx); err != nil {
		t.Errorf("the pool after the removal: %v", err)
	}
	if st := m.Status().Targets[0]; st.Proxy != nil || m.ListenAddr("a") != "" || srv.Accepted() != accepted {
		t.Errorf("status %+v, proxy %+v; %d new connections at the server (want the pool kept)", st, st.Proxy, srv.Accepted()-accepted)
	}
}
