package proxy_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// Both pools the proxy is given in practice take batches.
var (
	_ proxy.BatchBackend = (*fleare.Client)(nil)
	_ proxy.BatchBackend = (*manager.Client)(nil)
)

// The proxy in front of a manager target, as flearectl serve will run it:
// 64 app connections send SET and GET through the proxy while the target
// is resized, its endpoint swapped between two strict servers and its
// password changed, 200 reloads. No request fails, no app
// connection is lost, no handshake is stranded, and a subscriber follows
// the target to the server it ends on.
func TestProxyOverManagerReloads(t *testing.T) {
	const reloads = 200
	pw := []string{testkit.Password, testkit.Password + "-rotated"}
	servers := []*fleartest.Server{
		fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true}),
		fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true}),
	}
	m := testkit.NewManager(t, manager.Options{HealthCheckInterval: 50 * time.Millisecond})
	target := func(srv, size, pwIdx int) string {
		return testkit.ConfigYAML(testkit.Target{Name: "a", Srv: servers[srv], Size: size, Pipeline: 8, Password: pw[pwIdx]})
	}
	testkit.Apply(t, m, target(0, 4, 0))

	// The pub/sub dialer reads the target in force, as the wiring will.
	dial := func(ctx context.Context) (*fleare.Conn, error) {
		tg, ok := m.Config().Lookup("a")
		if !ok {
			return nil, manager.ErrTargetRemoved
		}
		return fleare.Dial(ctx, tg.Host, tg.Port, fleare.Options{
			Username: tg.Username, Password: tg.Password.Reveal(), ConnectTimeout: tg.Timeouts.Connect,
		})
	}
	p, addr := startProxy(t, m.Client("a"), proxy.Options{Dial: dial})
	apps := appClient(t, addr, 64)
	// Long enough for 200 reloads on a loaded machine: a call cut
	// short by this context's end would count as a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var seq atomic.Int64
	load := testkit.StartLoad(ctx, 64, 10*time.Second, func(ctx context.Context) error {
		n := seq.Add(1)
		key, val := fmt.Sprintf("k%d", n%512), fmt.Sprint(n)
		if err := apps.Set(ctx, key, val); err != nil {
			return err
		}
		_, err := apps.Get(ctx, key)
		return err
	})
	sub := login(t, addr)
	sub.Send("SUBSCRIBE", "news")
	sub.Call("PING")

	cur, pwIdx, last := 0, 0, 0
	for i := range reloads {
		replace := true
		switch {
		case i%5 == 4:
			cur = 1 - cur
		case i%7 == 6:
			pwIdx = 1 - pwIdx
			for _, s := range servers {
				s.SetUsers(map[string]string{testkit.User: pw[pwIdx]})
			}
		default:
			replace = false // a resize
		}
		size := 1 + i%8
		testkit.Apply(t, m, target(cur, size, pwIdx))
		if replace {
			p.ReconnectSubscribers()
		}
		// No settling: the next reload comes while the pools and the
		// subscriber's link still dial and close. A dial a reload abandons
		// mid-handshake keeps its server's gate until the server dropped
		// it, so the strict servers never see two handshakes at once.
		last = size
	}
	// Settled: the last pool and the subscriber's link, on the last server.
	testkit.WaitConns(t, servers[cur], last+1)
	testkit.WaitConns(t, servers[1-cur], 0)
	testkit.WaitSubscribers(t, servers[cur], "news", 1) // the link is subscribed, not only open
	// Before stopping the load: stopping cancels calls, and the app's
	// client closes a connection whose call is canceled.
	appStats, proxyStats := apps.Stats(), p.Stats()
	calls := load.Stop()
	if calls.Failed != 0 || calls.OK == 0 {
		t.Fatalf("%d of %d calls failed; first: %v", calls.Failed, calls.OK+calls.Failed, calls.First)
	}
	if appStats.DialAttempts != 64 || appStats.Replaced != 0 || appStats.ClosedBroken != 0 {
		t.Fatalf("app connections were lost: %+v", appStats)
	}
	if proxyStats.Errors != 0 || proxyStats.Clients != 65 || proxyStats.Subscribers != 1 {
		t.Fatalf("proxy: %+v", proxyStats)
	}
	for i, s := range servers {
		if s.Stranded() != 0 {
			t.Fatalf("server %d stranded %d handshakes", i, s.Stranded())
		}
	}
	pub := login(t, addr)
	if resp := pub.Call("PUBLISH", "news", "on the last server"); resp.GetStatus() != "Ok" {
		t.Fatalf("PUBLISH after the reloads: %v", resp)
	}
	if resp, err := sub.Recv(); err != nil || resp.GetTopic() != "news" {
		t.Fatalf("subscriber after the reloads: %v, %v (subscribed: %d on the last server, %d on the other)",
			resp, err, servers[cur].Subscribers("news"), servers[1-cur].Subscribers("news"))
	}
	t.Logf("%d calls through the proxy during %d reloads", calls.OK, reloads)
}
