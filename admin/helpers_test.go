package admin_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/poll"
	"github.com/fleare-manager/fleare-manager/manager"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testUser     = "app"
	testPassword = "admin-Test-pa55word"
)

// startFleare starts a Fleare test server that knows testUser.
func startFleare(t *testing.T) *fleartest.Server {
	t.Helper()
	return fleartest.NewServer(t, fleartest.Options{Users: map[string]string{testUser: testPassword}})
}

// configYAML is a configuration with one target, "cache", on srv with a
// pool of size, fast timeouts, and the password in the file.
func configYAML(srv *fleartest.Server, size int) string {
	return fmt.Sprintf(`version: 1
targets:
  cache:
    host: 127.0.0.1
    port: %d
    username: %s
    password: %s
    pool: {size: %d}
    timeouts: {connect: 2s, request: 2s, drain: 100ms}
    retry: {max_retries: 0, interval: 50ms}
`, srv.Port(), testUser, testPassword, size)
}

// fixture is a manager with its admin API served over HTTP on loopback.
type fixture struct {
	m   *manager.Manager
	api *admin.Server
	url string
	hc  *http.Client // closed with the test server
}

// newFixture starts a manager and its API, wrapped by wrap (nil for none);
// everything is closed when the test ends.
func newFixture(t *testing.T, o admin.Options, wrap func(http.Handler) http.Handler) *fixture {
	t.Helper()
	m, err := manager.New(manager.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("manager close: %v", err)
		}
	})
	api := admin.NewServer(m, o)
	var h http.Handler = api
	if wrap != nil {
		h = wrap(api)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	t.Cleanup(api.Close) // before ts.Close: it ends the event streams
	return &fixture{m: m, api: api, url: ts.URL, hc: ts.Client()}
}

// reply is an answer of the API with its headers.
type reply struct {
	code   int
	header http.Header
	body   string
}

// send sends a request to the fixture and returns the whole reply.
func (f *fixture) send(t *testing.T, method, path, body string, header ...string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), testPassword) {
		t.Errorf("%s %s: the reply holds the password:\n%s", method, path, data)
	}
	return reply{resp.StatusCode, resp.Header, string(data)}
}

// do sends a request to the fixture and returns the status and body.
func (f *fixture) do(t *testing.T, method, path, body string, header ...string) (int, string) {
	t.Helper()
	r := f.send(t, method, path, body, header...)
	return r.code, r.body
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, what, cond)
}

// rawPost posts body to path over the unix socket sock and returns the
// reply's status and body as sent.
func rawPost(t *testing.T, sock, path, body string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", "http://admin"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data)
}

// heapInUse returns the bytes of heap in use, after a collection with gc.
func heapInUse(gc bool) uint64 {
	if gc {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
