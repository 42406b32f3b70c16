package manager_test

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/poll"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

var proxyReloads = flag.Int("proxy-reloads", 200, "reloads of TestProxyReloadsUnderClients (-short: 40)")

// App credentials, checked by the manager's proxy; never the server's.
const (
	appUser = "web"
	appPass = "app-pass-Never-Shown"
)

// proxyTarget is one target of a proxy test configuration.
type proxyTarget struct {
	name     string
	srv      *fleartest.Server
	size     int
	pipeline int
	user     string // the pool's login; testkit.User when ""
	pass     string
	listen   string // listen.address
	users    string // listen.users, as YAML; web/appPass when ""
	extra    string // more listen keys, as YAML "key: value, "
}

func proxyYAML(ts ...proxyTarget) string {
	var b strings.Builder
	// Generous connect and request timeouts: a loaded machine running the
	// tests under -race must not turn slowness into a failed reload.
	b.WriteString("version: 1\ndefaults:\n  timeouts: {connect: 10s, request: 20s, drain: 2s}\n  retry: {max_retries: 2, interval: 20ms}\ntargets:\n")
	for _, t := range ts {
		user, pass := t.user, t.pass
		if user == "" {
			user, pass = testkit.User, testkit.Password
		}
		users := t.users
		if users == "" {
			users = fmt.Sprintf("[{username: %s, password: %q}]", appUser, appPass)
		}
		fmt.Fprintf(&b, "  %s:\n    host: %s\n    port: %d\n    username: %s\n    password: %q\n", t.name, t.srv.Host(), t.srv.Port(), user, pass)
		fmt.Fprintf(&b, "    pool: {size: %d, pipeline: %d}\n", max(t.size, 1), t.pipeline)
		if t.listen != "" {
			fmt.Fprintf(&b, "    listen: {address: %q, %susers: %s}\n", t.listen, t.extra, users)
		}
	}
	return b.String()
}

// frameCheck wraps the pools' connections and counts frames of length zero
// written to a server, which would kill the real one.
type frameCheck struct{ zero atomic.Int64 }

func (fc *frameCheck) dialer(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &checkedConn{Conn: nc, fc: fc}, nil
}

// checkedConn parses the frames written on it: a 4-byte big-endian length,
// then the body.
type checkedConn struct {
	net.Conn
	fc   *frameCheck
	mu   sync.Mutex
	hdr  []byte
	left int // body bytes of the current frame still to come
}

func (c *checkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for q := p; len(q) > 0; {
		if c.left > 0 {
			n := min(c.left, len(q))
			c.left -= n
			q = q[n:]
			continue
		}
		n := min(4-len(c.hdr), len(q))
		c.hdr = append(c.hdr, q[:n]...)
		q = q[n:]
		if len(c.hdr) == 4 {
			c.left = int(binary.BigEndian.Uint32(c.hdr))
			if c.left == 0 {
				c.fc.zero.Add(1)
			}
			c.hdr = c.hdr[:0]
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// appConn logs in to the proxy at addr as an app would, with the
// project's client (one connection), and counts its disconnects.
func appConn(t testing.TB, addr, user, pass string, drops *atomic.Int64) (*fleare.Client, error) {
	t.Helper()
	host, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	c := fleare.NewClient(host, port, fleare.Options{
		PoolSize: 1, Username: user, Password: pass,
		ConnectTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second, RetryInterval: 10 * time.Millisecond, MaxRetries: 1,
		OnEvent: func(e fleare.Event) {
			if drops != nil && e.Type == fleare.EventDisconnected {
				drops.Add(1)
			}
		},
	})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, c.Connect(testkit.Context(t))
}

func strictServer(t testing.TB, users map[string]string) *fleartest.Server {
	return fleartest.NewServer(t, fleartest.Options{Users: users, Strict: true})
}

// openFDs counts the process's open file descriptors (Linux only).
func openFDs(t testing.TB) (int, bool) {
	if runtime.GOOS != "linux" {
		return 0, false
	}
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es), true
}

// 64 apps stay connected through the manager's proxy while its target is
// reloaded again and again: resized, swapped between two servers, its
// credentials changed. No request fails, no app is disconnected, the
// servers never see two handshakes at once or a zero-length frame, and
// Close leaves no goroutine (TestMain) or file descriptor behind.
func TestProxyReloadsUnderClients(t *testing.T) {
	reloads := *proxyReloads
	if testing.Short() {
		reloads = min(reloads, 40)
	}
	const clients = 64
	users := map[string]string{testkit.User: testkit.Password, "app2": "pa55-Second-Known"}
	servers := []*fleartest.Server{strictServer(t, users), strictServer(t, users)}
	fdsBefore, haveFDs := openFDs(t)
	var fc frameCheck
	m, err := manager.New(manager.Options{Dialer: fc.dialer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) }) // on failure; Close is idempotent
	ev := testkit.Record(t, m)
	ctx := testkit.Context(t)
	config := func(i int) string {
		tg := proxyTarget{name: "a", srv: servers[(i/2)%2], size: 1 + i%4, pipeline: 8, listen: "127.0.0.1:0"}
		if (i/3)%2 == 1 {
			tg.user, tg.pass = "app2", users["app2"]
		}
		return proxyYAML(tg)
	}
	if _, err := m.Apply(ctx, testkit.Parse(t, config(0))); err != nil {
		t.Fatal(err)
	}
	addr := m.ListenAddr("a")
	if addr == "" {
		t.Fatalf("no listener; status %+v", m.Status())
	}

	var drops, failed, done atomic.Int64
	apps := make([]*fleare.Client, clients)
	var connect sync.WaitGroup
	for i := range apps {
		connect.Go(func() { // all at once: the proxy accepts them without a backend dial
			c, err := appConn(t, addr, appUser, appPass, &drops)
			if err != nil {
				t.Errorf("app %d: %v", i, err)
			}
			apps[i] = c
		})
	}
	connect.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// A subscriber, in raw frames: its dedicated connection must follow
	// the target across the swaps and credential changes.
	sub := testkit.RawLogin(t, addr, appUser, appPass)
	sub.Send("SUBSCRIBE", "news")
	if r := sub.Call("PING"); r.GetStatus() != "Ok" {
		t.Fatalf("PING after SUBSCRIBE: %v", r)
	}
	stop := make(chan struct{})
	var stopOnce sync.Once
	var load sync.WaitGroup
	// On failure too, the load ends before the apps close.
	t.Cleanup(func() { stopOnce.Do(func() { close(stop) }); load.Wait() })
	for i, c := range apps {
		load.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("k%d", i)
				for _, cmd := range [][]string{{"PING"}, {"SET", key, strconv.Itoa(n)}, {"EXISTS", key}} {
					r, err := c.Exec(ctx, cmd[0], cmd[1:]...)
					if err != nil || r.Status != "Ok" {
						if failed.Add(1) <= 5 {
							t.Errorf("app %d: %v: %+v, %v", i, cmd, r, err)
						}
					}
				}
				done.Add(1)
			}
		})
	}
	for i := 1; i <= reloads; i++ {
		if _, err := m.Apply(ctx, testkit.Parse(t, config(i))); err != nil {
			for _, srv := range servers {
				t.Logf("server %s: stranded %d, overlaps %+v, wedged %v", srv.Addr(), srv.Stranded(), srv.Overlaps(), srv.Wedged())
			}
			t.Fatalf("reload %d: %v", i, err)
		}
		// No settling: the next reload comes while the last one's pools
		// still dial and close. A dial the reload abandons mid-handshake
		// keeps its server's gate until the server dropped it, so the
		// strict servers never see two handshakes at once.
	}
	// Settled, the servers hold exactly the last pool and the subscriber's
	// connection (which follows the target in the background).
	last := servers[(reloads/2)%2]
	testkit.WaitConns(t, last, 1+reloads%4+1)
	testkit.WaitConns(t, servers[1-(reloads/2)%2], 0)
	testkit.WaitSubscribers(t, last, "news", 1) // subscribed, not only open
	stopOnce.Do(func() { close(stop) })
	load.Wait()

	if r, err := apps[0].Exec(ctx, "PUBLISH", "news", "after the reloads"); err != nil || r.Status != "Ok" {
		t.Errorf("PUBLISH: %+v, %v", r, err)
	} else if push, err := sub.Recv(); err != nil || push.GetTopic() != "news" || !strings.Contains(string(push.GetResult()), "after the reloads") {
		t.Errorf("the subscriber after the reloads: %v, %v", push, err)
	}
	st := m.Status()
	ps := st.Targets[0].Proxy
	switch {
	case failed.Load() != 0:
		t.Errorf("%d requests failed", failed.Load())
	case drops.Load() != 0:
		t.Errorf("%d app disconnects", drops.Load())
	case ps == nil || ps.Accepted != clients+1 || ps.Clients != clients+1 || ps.Errors != 0 || ps.Subscribers != 1:
		t.Errorf("proxy status after the reloads: %+v (want %d accepted and connected, a subscriber, no error)", ps, clients+1)
	case ps.Requests < 3*uint64(done.Load()):
		t.Errorf("proxy counted %d requests; the apps completed %d", ps.Requests, 3*done.Load())
	}
	for _, srv := range servers {
		if srv.Stranded() != 0 || srv.Overlaps().Handshakes != 0 || srv.Wedged() {
			t.Errorf("server %s: stranded %d, overlaps %+v, wedged %v", srv.Addr(), srv.Stranded(), srv.Overlaps(), srv.Wedged())
		}
	}
	if n := fc.zero.Load(); n != 0 {
		t.Errorf("%d zero-length frames reached a server", n)
	}
	t.Logf("%d reloads under %d apps, %d request rounds", reloads, clients, done.Load())

	for _, c := range apps {
		_ = c.Close(ctx)
	}
	sub.Conn().Close()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _ = ev.Wait(t, 0, "proxy.closed", testkit.Is(manager.EventProxyClosed, "a")); haveFDs {
		if !poll.For(poll.Timeout, func() bool { n, _ := openFDs(t); return n <= fdsBefore }) {
			n, _ := openFDs(t)
			t.Errorf("%d file descriptors open after Close, %d before", n, fdsBefore)
		}
	}
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// A new listen address is opened before the old one closes; apps on the
// old address stay served, new ones connect to the new address.
func TestProxyListenAddressChange(t *testing.T) {
	srv := strictServer(t, testkit.Users())
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	first := freeAddr(t)
	testkit.Apply(t, m, proxyYAML(proxyTarget{name: "a", srv: srv, size: 2, listen: first}))
	old, err := appConn(t, first, appUser, appPass, nil)
	if err != nil {
		t.Fatal(err)
	}
	second := freeAddr(t)
	res := testkit.Apply(t, m, proxyYAML(proxyTarget{name: "a", srv: srv, size: 2, listen: second}))
	if s := res.Plan.String(); !strings.Contains(s, "listen.address "+first+" → "+second) {
		t.Errorf("plan does not show the move:\n%s", s)
	}
	e, _ := ev.Wait(t, 0, "the move", func(e manager.Event) bool { return e.Type == manager.EventProxyListening && e.Old != "" })
	if e.Old != first || e.New != second {
		t.Errorf("event %v", e)
	}
	if err := old.Ping(testkit.Context(t)); err != nil {
		t.Errorf("an app on the old address: %v", err)
	}
	if _, err := appConn(t, second, appUser, appPass, nil); err != nil {
		t.Errorf("login on the new address: %v", err)
	}
	if nc, err := net.Dial("tcp", first); err == nil {
		nc.Close()
		t.Errorf("the old address still accepts")
	}
	if ps := m.Status().Targets[0].Proxy; ps.Address != second || ps.Listening != second || ps.Clients != 2 {
		t.Errorf("proxy status %+v", ps)
	}
}

// A removed target's listener closes and its apps are drained: a request
// in flight is answered first.
func TestProxyRemovedTargetDrains(t *testing.T) {
	srv := strictServer(t, testkit.Users())
	other := strictServer(t, testkit.Users())
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	ctx := testkit.Context(t)
	testkit.Apply(t, m, proxyYAML(proxyTarget{name: "a", srv: srv, listen: "127.0.0.1:0"}, proxyTarget{name: "b", srv: other}))
	addr := m.ListenAddr("a")
	app, err := appConn(t, addr, appUser, appPass, nil)
	if err != nil {
		t.Fatal(err)
	}
	answered := requestInFlight(t, ctx, m, srv, app)
	testkit.Apply(t, m, proxyYAML(proxyTarget{name: "b", srv: other}))
	if err := <-answered; err != nil {
		t.Errorf("request in flight during the removal: %v", err)
	}
	e, _ := ev.Wait(t, 0, "proxy.closed", testkit.Is(manager.EventProxyClosed, "a"))
	if e.Error != "" {
		t.Errorf("drain forced: %v", e)
	}
	if nc, err := net.Dial("tcp", addr); err == nil {
		nc.Close()
		t.Errorf("the removed target's address still accepts")
	}
	if ps := m.Status().Targets[0]; ps.Name != "b" || ps.Proxy != nil {
		t.Errorf("status %+v", ps)
	}
}

// Changed app users apply to the next login, apps logged in stay; a
// password_file is read at every login, so changing the file needs no
// reload. Refused logins are events without the password.
func TestProxyUsersChange(t *testing.T) {
	srv := strictServer(t, testkit.Users())
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	ctx := testkit.Context(t)
	pwFile := filepath.Join(t.TempDir(), "api.txt")
	must(t, os.WriteFile(pwFile, []byte("file-pass-One\n"), 0o600))
	users := func(webPass string) string {
		return fmt.Sprintf("[{username: web, password: %q}, {username: api, password_file: %q}]", webPass, pwFile)
	}
	testkit.Apply(t, m, proxyYAML(proxyTarget{name: "a", srv: srv, listen: "127.0.0.1:0", users: users("web-pass-One")}))
	addr := m.ListenAddr("a")
	first, err := appConn(t, addr, "web", "web-pass-One", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appConn(t, addr, "api", "file-pass-One", nil); err != nil {
		t.Fatal(err)
	}
	testkit.Apply(t, m, proxyYAML(proxyTarget{name: "a", srv: srv, listen: "127.0.0.1:0", users: users("web-pass-Two")}))
	if _, err := appConn(t, addr, "web", "web-pass-One", nil); err == nil || !strings.Contains(err.Error(), "incorrect") {
		t.Errorf("login with the old password: %v", err)
	}
	if _, err := appConn(t, addr, "web", "web-pass-Two", nil); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if err := first.Ping(ctx); err != nil {
		t.Errorf("an app logged in before the change: %v", err)
	}
	must(t, os.WriteFile(pwFile, []byte("file-pass-Two\n"), 0o600))
	if _, err := appConn(t, addr, "api", "file-pass-Two", nil); err != nil {
		t.Errorf("login with the file's new password: %v", err)
	}
	e, _ := ev.Wait(t, 0, "proxy.auth_failed", testkit.Is(manager.EventProxyAuthFailed, "a"))
	if e.User != "web" || e.Client == "" || strings.Contains(e.String(), "pass-") {
		t.Errorf("auth event %q (%+v)", e.String(), e)
	}
	if ps := m.Status().Targets[0].Proxy; ps.AuthFailures == 0 {
		t.Errorf("proxy status %+v, want the refused logins counted", ps)
	}
}

// listen.max_clients holds and its hits are events.
func TestProxyClientLimit(t *testing.T) {
	srv := strictServer(t, testkit.Users())
	m := testkit.NewManager(t, manager.Options{})
	ev := testkit.Record(t, m)
	testkit.Apply(t, m, proxyYAML(proxyTarget{name: "a", srv: srv, listen: "127.0.0.1:0", extra: "max_clients: 1, "}))
	addr := m.ListenAddr("a")
	if _, err := appConn(t, addr, appUser, appPass, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := appConn(t, addr, appUser, appPass, nil); err == nil || !strings.Contains(err.Error(), "max_clients (1)") {
		t.Errorf("a client over the limit: %v", err)
	}
	ev.Wait(t, 0, "proxy.client_limit", testkit.Is(manager.EventProxyClientLimit, "a"))
	if ps := m.Status().Targets[0].Proxy; ps.LimitHits == 0 || ps.Clients != 1 {
		t.Errorf("proxy status %+v", ps)
	}
}

// A listen address that cannot be opened fails the target's action and
// shows in status; the pool serves regardless, and the next reload, an
// unchanged one included, tries again.
func TestProxyListenRetried(t *testing.T) {
	srv := strictServer(t, testkit.Users())
	m := testkit.NewManager(t, manager.Options{})
	ctx := testkit.Context(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := busy.Addr().String()
	yaml := proxyYAML(proxyTarget{name: "a", srv: srv, listen: addr})
	if _, err := m.Apply(ctx, testkit.Parse(t, yaml)); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Apply with the address taken: %v", err)
	}
	ts := m.Status().Targets[0]
	if ts.Proxy == nil || ts.Proxy.Listening != "" || !strings.Contains(ts.Proxy.ListenError, "in use") || ts.Open != 1 {
		t.Fatalf("status: %+v, proxy %+v", ts, ts.Proxy)
	}
	busy.Close()
	testkit.Apply(t, m, yaml) // unchanged
	if got := m.ListenAddr("a"); got != addr {
		t.Fatalf("after the retry: listening on %q, want %s", got, addr)
	}
	if _, err := appConn(t, addr, appUser, appPass, nil); err != nil {
		t.Fatal(err)
	}
}

// requestInFlight slows srv down and has app send one request through the
// proxy of the manager's first target; it returns once the proxy has read
// the request, which is then in flight for 300 ms. The request's outcome
// arrives on the channel.
func requestInFlight(t *testing.T, ctx context.Context, m *manager.Manager, srv *fleartest.Server, app *fleare.Client) <-chan error {
	t.Helper()
	srv.SetLatency(300 * time.Millisecond)
	requests := func() uint64 { return m.Status().Targets[0].Proxy.Requests }
	before := requests()
	answered := make(chan error, 1)
	go func() {
		_, err := app.Exec(ctx, "SET", "k", "v")
		answered <- err
	}()
	poll.Until(t, "the proxy to read the request", func() bool { return requests() > before })
	return answered
}
