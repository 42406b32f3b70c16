package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

// A rejected configuration's reply lists at most spec.MaxProblems problems
// and counts the rest; what the manager keeps (status, event history) is
// as bounded; and the rejection is logged once, by the manager.
func TestRejectionIsBounded(t *testing.T) {
	var logs testkit.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	m, err := manager.New(manager.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	api := admin.NewServer(m, admin.Options{Logger: logger})
	sock := serveUnix(t, api, api)
	t.Cleanup(func() { _ = m.Close(context.Background()) })

	const n = 20_000
	var b strings.Builder
	b.WriteString("version: 1\ntargets:\n  a:\n    host: h\n")
	for i := range n {
		fmt.Fprintf(&b, "    unknown_key_%d: 1\n", i)
	}
	code, reply := rawPost(t, sock, "/v1/apply?file=/etc/f.yaml", b.String())
	var er admin.ErrorReply
	if err := json.Unmarshal([]byte(reply), &er); err != nil || code != http.StatusBadRequest {
		t.Fatalf("%d %v %.300s", code, err, reply)
	}
	if len(er.Errors) != spec.MaxProblems+1 || !strings.Contains(er.Error, fmt.Sprintf("(%d problem(s))", n)) ||
		!strings.Contains(er.Errors[spec.MaxProblems], fmt.Sprintf("%d more problem(s) not listed", n-spec.MaxProblems)) {
		t.Fatalf("reply: %s, %d lines, the last %q", er.Error, len(er.Errors), er.Errors[len(er.Errors)-1])
	}
	if len(reply) > 64<<10 {
		t.Errorf("the reply holds %d bytes for a body of %d", len(reply), b.Len())
	}
	st := m.Status()
	if st.LastReload == nil || len(st.LastReload.Errors) != spec.MaxProblems+1 {
		t.Errorf("the status keeps %d lines", len(st.LastReload.Errors))
	}
	waitFor(t, "the rejection logged", func() bool { return strings.Contains(logs.String(), "config.rejected") })
	if c := strings.Count(logs.String(), "unknown_key_0:"); c != 1 {
		t.Errorf("the first problem was logged %d times, want once:\n%.2000s", c, logs.String())
	}
	if size := len(logs.String()); size > 64<<10 {
		t.Errorf("the rejection wrote %d bytes of log", size)
	}
}

// Configurations sent to the API read no file outside the directories the
// operator allows, and no variable the operator does not allow: a token
// holder cannot read the manager's environment or files through them.
func TestAPIConfigsAreConfined(t *testing.T) {
	secrets := t.TempDir()
	pwFile := filepath.Join(secrets, "pw")
	if err := os.WriteFile(pwFile, []byte("file-pa55\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLEARE_TEST_ALLOWED", "allowed-user")
	t.Setenv("TEST_MANAGER_SECRET", "env-Secret-99")
	target := func(extra string) string {
		return "version: 1\ntargets:\n  a:\n    host: 127.0.0.1\n    port: 1\n    retry: {max_retries: 0}\n" + extra
	}
	for _, tc := range []struct {
		name string
		o    admin.Options
		body string
		want string // in the 400 reply; "" for 200
	}{
		{"no password file by default", admin.Options{}, target("    username: u\n    password_file: " + pwFile + "\n"), "password files are not read"},
		{"/proc/self/environ", admin.Options{SecretDirs: []string{secrets}}, target("    username: u\n    password_file: /proc/self/environ\n"), "is outside the directories"},
		{"a password file allowed", admin.Options{SecretDirs: []string{secrets}}, target("    username: u\n    password_file: " + pwFile + "\n"), ""},
		{"no variable by default", admin.Options{}, target("    username: ${TEST_MANAGER_SECRET}\n"), "variable TEST_MANAGER_SECRET is not allowed"},
		{"no variable by default, not even with a default", admin.Options{}, target("    username: ${TEST_MANAGER_SECRET:-x}\n"), "is not allowed"},
		{"a variable not on the list", admin.Options{AllowVar: prefix("FLEARE_")}, target("    username: ${TEST_MANAGER_SECRET}\n"), "is not allowed"},
		{"a variable on the list", admin.Options{AllowVar: prefix("FLEARE_")}, target("    username: ${FLEARE_TEST_ALLOWED}\n"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.o, nil)
			code, body := f.do(t, "POST", "/v1/diff?file=/etc/fleare/c.yaml", tc.body)
			for _, secret := range []string{"file-pa55", "env-Secret-99", "PATH="} {
				if strings.Contains(body, secret) {
					t.Errorf("the reply holds %q:\n%s", secret, body)
				}
			}
			switch {
			case tc.want == "" && code != http.StatusOK:
				t.Errorf("%d %s, want 200", code, body)
			case tc.want != "" && (code != http.StatusBadRequest || !strings.Contains(body, tc.want)):
				t.Errorf("%d %s, want 400 with %q", code, body, tc.want)
			}
		})
	}
}

func prefix(p string) func(string) bool {
	return func(name string) bool { return strings.HasPrefix(name, p) }
}

// A value from an allowed variable that lands in the wrong field is not
// quoted in the reply, the status or the event.
func TestAPIErrorsMaskVariables(t *testing.T) {
	t.Setenv("FLEARE_TEST_PW", "Pw-From-Env-77")
	f := newFixture(t, admin.Options{AllowVar: prefix("FLEARE_")}, nil)
	code, body := f.do(t, "POST", "/v1/apply?file=/etc/fleare/c.yaml",
		"version: 1\ntargets:\n  a:\n    host: ${FLEARE_TEST_PW}\n    port: ${FLEARE_TEST_PW}\n")
	if code != http.StatusBadRequest || !strings.Contains(body, `the value of \"${FLEARE_TEST_PW}\"`) {
		t.Fatalf("%d %s", code, body)
	}
	st, _ := json.Marshal(f.m.Status())
	for _, text := range []string{body, string(st)} {
		if strings.Contains(text, "Pw-From-Env-77") {
			t.Errorf("the value is quoted: %s", text)
		}
	}
}

// No more than MaxParses configurations are read and parsed at once: a
// request whose body is still arriving holds its turn, and a second one
// waits for it.
func TestParsesAreBounded(t *testing.T) {
	// The slow request's body is read only once it holds the turn: its
	// first read says so.
	holding := make(chan struct{})
	var once sync.Once
	f := newFixture(t, admin.Options{MaxParses: 1}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Slow") != "" {
				r.Body = &firstRead{ReadCloser: r.Body, do: func() { once.Do(func() { close(holding) }) }}
			}
			h.ServeHTTP(w, r)
		})
	})
	addr := strings.TrimPrefix(f.url, "http://")
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	const body = "version: 1\ntargets: {}\n"
	fmt.Fprintf(slow, "POST /v1/diff HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:5])
	select {
	case <-holding:
	case <-time.After(20 * time.Second):
		t.Fatal("the first request never began reading its body")
	}

	second := make(chan int, 1)
	go func() {
		code, _, err := f.post("/v1/diff", body)
		if err != nil {
			t.Error(err)
		}
		second <- code
	}()
	select {
	case code := <-second:
		t.Fatalf("a second parse ran (%d) while the first held the only turn", code)
	case <-time.After(time.Second):
	}
	fmt.Fprint(slow, body[5:])
	resp, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the first request: %v %v", resp, err)
	}
	resp.Body.Close()
	if code := <-second; code != http.StatusOK {
		t.Errorf("the second request, after the first: %d", code)
	}
}

// firstRead calls do before the first Read of its body.
type firstRead struct {
	io.ReadCloser
	do func()
}

func (b *firstRead) Read(p []byte) (int, error) {
	b.do()
	return b.ReadCloser.Read(p)
}

// Many diffs of a large configuration at once take the memory of
// MaxParses parses, not of all of them.
func TestConcurrentParsesMemoryIsBounded(t *testing.T) {
	const clients = 8
	var b strings.Builder
	b.WriteString("version: 1\ntargets:\n")
	for i := 0; b.Len() < 256<<10; i++ {
		fmt.Fprintf(&b, "  t%d: {host: h}\n", i)
	}
	body := b.String()
	f := newFixture(t, admin.Options{MaxParses: 2}, nil)
	peak := func(run func()) uint64 {
		var max atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				if h := heapInUse(false); h > max.Load() {
					max.Store(h)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
		base := heapInUse(true)
		run()
		close(stop)
		wg.Wait()
		return max.Load() - min(base, max.Load())
	}
	diff := func() {
		code, reply, err := f.post("/v1/diff", body)
		if err != nil || code != http.StatusBadRequest || !strings.Contains(reply, "targets; a configuration holds at most") {
			t.Errorf("%d %v %.200s", code, err, reply)
		}
	}
	one := peak(diff)
	all := peak(func() {
		var wg sync.WaitGroup
		for range clients {
			wg.Go(diff)
		}
		wg.Wait()
	})
	t.Logf("heap growth: one parse %d MB, %d at once %d MB", one>>20, clients, all>>20)
	// Two at a time come to about three times one parse (the collector
	// lets garbage build up); all eight at once, about eight times.
	if all > 11*one/2 {
		t.Errorf("%d parses at once grew the heap by %d MB, one by %d MB: more than MaxParses ran together", clients, all>>20, one>>20)
	}
}

// A client refused its token gets its 401 and its connection closed, so
// unauthenticated connections do not pile up.
func TestUnauthorizedConnectionIsClosed(t *testing.T) {
	f := newFixture(t, admin.Options{}, func(h http.Handler) http.Handler { return admin.RequireToken("tok", h) })
	c, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("%v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after the 401 the connection is still open: %v", err)
	}
}

// LimitListener holds at most n connections open, whatever the clients
// do, and takes the next one as soon as one closes.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingListener{Listener: inner}
	const limit = 4
	ln := admin.LimitListener(counting, limit)
	hs := admin.NewHTTPServer(admin.RequireToken("tok", http.NotFoundHandler()), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	defer func() {
		_ = hs.Close()
		<-done
	}()
	const clients = 64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%v %v", resp, err)
			}
		})
	}
	wg.Wait()
	if most := counting.most.Load(); most > limit || most == 0 {
		t.Errorf("%d connections were open at once, the limit is %d", most, limit)
	}
	if got := counting.accepted.Load(); got != clients {
		t.Errorf("%d connections accepted, want %d", got, clients)
	}
}

// countingListener counts the connections it has accepted and not yet
// seen closed, and the most at once.
type countingListener struct {
	net.Listener
	open, most, accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	n := l.open.Add(1)
	for m := l.most.Load(); n > m && !l.most.CompareAndSwap(m, n); m = l.most.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// post sends body to path, waiting up to a minute (parses queue behind
// each other), and returns the status and reply. It may run in any
// goroutine.
func (f *fixture) post(path, body string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", f.url+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), err
}
