package proxy_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/proxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Credentials: the server's (used by the proxy's pool) and the apps' (checked
// by the proxy).
const (
	srvUser = "pool"
	srvPass = "server-secret-Never-Shown"
	appUser = "web"
	appPass = "app-secret-Never-Shown"
)

var appUsers = []proxy.User{{Username: appUser, Password: appPass}}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newServer starts a strict test server: handshakes that overlap strand.
func newServer(t testing.TB) *fleartest.Server {
	return fleartest.NewServer(t, fleartest.Options{Users: map[string]string{srvUser: srvPass}, Strict: true})
}

// serverOptions are pool options for srv, with test-sized timings.
func serverOptions(size, pipeline int) fleare.Options {
	return fleare.Options{
		PoolSize: size, Pipeline: pipeline, Username: srvUser, Password: srvPass,
		ConnectTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second,
		RetryInterval: 10 * time.Millisecond, HealthCheckInterval: 50 * time.Millisecond,
	}
}

// newPool returns a connected pool to srv, closed when the test ends.
func newPool(t testing.TB, srv *fleartest.Server, size, pipeline int) *fleare.Client {
	t.Helper()
	c := fleare.NewClient(srv.Host(), srv.Port(), serverOptions(size, pipeline))
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

// dialer returns an Options.Dial opening connections to srv.
func dialer(srv *fleartest.Server) func(context.Context) (*fleare.Conn, error) {
	return func(ctx context.Context) (*fleare.Conn, error) {
		return fleare.Dial(ctx, srv.Host(), srv.Port(), serverOptions(1, 0))
	}
}

// startProxy starts a proxy listening on a free loopback port; the test's
// end closes it and checks that no client is left.
func startProxy(t testing.TB, b proxy.Backend, o proxy.Options) (*proxy.Proxy, string) {
	t.Helper()
	if o.Users == nil {
		o.Users = appUsers
	}
	p, err := proxy.New(b, o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if st := p.Stats(); st.Clients != 0 || st.Listeners != 0 || st.Subscribers != 0 {
			t.Errorf("after Close: %+v", st)
		}
	})
	return p, l.Addr().String()
}

// appClient returns a connected pool of the project's own client, through
// the proxy at addr, with the app's credentials.
func appClient(t testing.TB, addr string, size int) *fleare.Client {
	t.Helper()
	host, port := splitAddr(t, addr)
	c := fleare.NewClient(host, port, fleare.Options{
		PoolSize: size, Username: appUser, Password: appPass,
		ConnectTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second, RetryInterval: 10 * time.Millisecond,
	})
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	if err := c.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

func splitAddr(t testing.TB, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// login dials and logs in with the app's credentials.
func login(t testing.TB, addr string) *testkit.Raw {
	t.Helper()
	return testkit.RawLogin(t, addr, appUser, appPass)
}

// waitFor polls cond until it holds, for gauges no event announces.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// events records a proxy's events.
type events struct {
	mu  sync.Mutex
	all []proxy.Event
}

func (e *events) record(ev proxy.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) list() []proxy.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]proxy.Event(nil), e.all...)
}

func (e *events) count(kind proxy.EventKind) int {
	n := 0
	for _, ev := range e.list() {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// noSecrets fails the test if any event shows a password.
func (e *events) noSecrets(t testing.TB) {
	t.Helper()
	for _, ev := range e.list() {
		s := fmt.Sprintf("%v %+v %#v", ev, ev, ev)
		if strings.Contains(s, appPass) || strings.Contains(s, srvPass) || strings.Contains(s, "wrong-pass") {
			t.Fatalf("event shows a password: %s", s)
		}
	}
}

// stub is a backend scripted by the test.
type stub struct {
	mu    sync.Mutex
	calls []string
	exec  func(ctx context.Context, command string, args []string) (fleare.Reply, error)
}

func (s *stub) Exec(ctx context.Context, command string, args ...string) (fleare.Reply, error) {
	s.mu.Lock()
	s.calls = append(s.calls, strings.TrimSpace(command+" "+strings.Join(args, " ")))
	s.mu.Unlock()
	if s.exec != nil {
		return s.exec(ctx, command, args)
	}
	return fleare.Reply{Status: "Ok", Result: []byte("PONG " + strings.Join(args, " ")), ClientID: "7-10.0.0.1:1"}, nil
}

func (s *stub) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}
