package proxy_test

import (
	"encoding/binary"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/internal/wire"
	"github.com/fleare-manager/fleare-manager/proxy"
)

var clientIDFormat = regexp.MustCompile(`^\d+-127\.0\.0\.1:\d+$`)

// Logins are answered with the real server's replies, word for word
// (real-server-transcript.txt), failures followed by a close; no request
// reaches the backend before a login succeeds, and no event shows a
// password.
func TestLoginReplies(t *testing.T) {
	const (
		bad     = "ConnectionFailed: The username or password you entered is incorrect. Please try again with valid credentials."
		missing = "ConnectionFailed: failed to authenticate, please ensure your username and password are provided"
	)
	garbage := []byte{0, 0, 0, 3, 0xff, 0xff, 0xff}
	tests := []struct {
		name  string
		frame []byte
		ok    bool
		msg   string
	}{
		{"auth ok", testkit.Frame(t, "auth", appUser, appPass), true, "Connected"},
		{"auth cmd name PING ok creds", testkit.Frame(t, "PING", appUser, appPass), true, "Connected"},
		{"wrong password", testkit.Frame(t, "auth", appUser, "wrong-pass"), false, bad},
		{"unknown user", testkit.Frame(t, "auth", "nobody", appPass), false, bad},
		{"0 args", testkit.Frame(t, "auth"), false, missing},
		{"1 arg", testkit.Frame(t, "auth", appUser), false, "ConnectionFailed: invalid arguments"},
		{"3 args", testkit.Frame(t, "auth", appUser, appPass, "x"), false, "ConnectionFailed: invalid arguments"},
		{"user, empty password", testkit.Frame(t, "auth", appUser, ""), false, missing},
		{"garbage protobuf", garbage, false, "ConnectionFailed: invalid data format"},
		{"empty frame (len 0)", []byte{0, 0, 0, 0}, false, "ConnectionFailed: invalid authentication data provided"},
		{"frame over 10 MiB", binary.BigEndian.AppendUint32(nil, wire.MaxFrameLen+1), false, "ConnectionFailed: invalid authentication data provided"},
	}
	b := &stub{}
	var ev events
	p, addr := startProxy(t, b, proxy.Options{OnEvent: ev.record})
	failures := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testkit.DialRaw(t, addr)
			r.Write(tt.frame)
			resp, err := r.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if tt.ok {
				if resp.GetStatus() != "Ok" || string(resp.GetResult()) != tt.msg || !clientIDFormat.MatchString(resp.GetClientId()) {
					t.Fatalf("got %v", resp)
				}
				if got := r.Call("PING", "x"); string(got.GetResult()) != "PONG x" {
					t.Fatalf("PING after login: %v", got)
				}
				return
			}
			failures++
			if resp.GetStatus() != "Error" || string(resp.GetResult()) != tt.msg || resp.GetClientId() != "" {
				t.Fatalf("got %v, want Error %q with no client id", resp, tt.msg)
			}
			r.ExpectClosed()
		})
	}
	if got := b.seen(); len(got) != 2 {
		t.Errorf("backend saw %q, want the two PINGs sent after a login", got)
	}
	if st := p.Stats(); st.AuthFailures != uint64(failures) {
		t.Errorf("AuthFailures = %d, want %d", st.AuthFailures, failures)
	}
	if n := ev.count(proxy.EventAuthFailed); n != failures {
		t.Errorf("%d auth.failed events, want %d: %v", n, failures, ev.list())
	}
	ev.noSecrets(t)
}

// 64 clients connecting at the same instant are all logged in, by the
// proxy itself: the strict server behind it sees no new connection and
// strands nothing.
func TestSimultaneousLogins(t *testing.T) {
	srv := newServer(t)
	pool := newPool(t, srv, 2, 0)
	accepted := srv.Accepted()
	_, addr := startProxy(t, pool, proxy.Options{})

	const n = 64
	conns := make([]*testkit.Raw, n)
	for i := range conns {
		conns[i] = testkit.DialRaw(t, addr)
	}
	auth := testkit.Frame(t, "auth", appUser, appPass)
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for _, r := range conns {
		wg.Go(func() {
			<-start
			if _, err := r.Conn().Write(auth); err != nil {
				errs <- err
				return
			}
			resp, err := r.Recv()
			switch {
			case err != nil:
				errs <- err
			case resp.GetStatus() != "Ok":
				errs <- &loginError{resp.String()}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ids := make(map[string]bool)
	for _, r := range conns {
		resp := r.Call("SESSION")
		if resp.GetStatus() != "Ok" || ids[resp.GetClientId()] {
			t.Fatalf("SESSION: %v (client ids must be distinct)", resp)
		}
		ids[resp.GetClientId()] = true
	}
	if srv.Accepted() != accepted || srv.Stranded() != 0 {
		t.Fatalf("server accepted %d new connections, stranded %d", srv.Accepted()-accepted, srv.Stranded())
	}
}

type loginError struct{ resp string }

func (e *loginError) Error() string { return "login refused: " + e.resp }

// A client that connects and says nothing does not hold up anyone (the
// real server's accept loop would wait for it), and is closed once
// AuthTimeout passes.
func TestSilentClient(t *testing.T) {
	t.Run("does not delay others", func(t *testing.T) {
		// An hour: if the silent client held the others up, this test
		// would time out instead of passing.
		_, addr := startProxy(t, &stub{}, proxy.Options{AuthTimeout: time.Hour})
		silent := testkit.DialRaw(t, addr)
		_ = silent
		for range 8 {
			r := login(t, addr)
			if resp := r.Call("PING"); resp.GetStatus() != "Ok" {
				t.Fatalf("PING: %v", resp)
			}
		}
	})
	t.Run("is closed after AuthTimeout", func(t *testing.T) {
		var ev events
		p, addr := startProxy(t, &stub{}, proxy.Options{AuthTimeout: 50 * time.Millisecond, OnEvent: ev.record})
		silent := testkit.DialRaw(t, addr)
		silent.ExpectClosed()
		if st := p.Stats(); st.AuthFailures != 1 {
			t.Fatalf("AuthFailures = %d", st.AuthFailures)
		}
		if evs := ev.list(); len(evs) != 1 || evs[0].Kind != proxy.EventAuthFailed || !strings.Contains(evs[0].Reason, "no complete auth frame") {
			t.Fatalf("events: %v", evs)
		}
		// Half an auth frame is no better.
		half := testkit.DialRaw(t, addr)
		half.Write(testkit.Frame(t, "auth", appUser, appPass)[:6])
		half.ExpectClosed()
	})
}

// New logins use the users in force at once; clients logged in stay.
func TestUpdateUsers(t *testing.T) {
	p, addr := startProxy(t, &stub{}, proxy.Options{})
	before := login(t, addr)
	if err := p.Update(proxy.Options{Users: []proxy.User{{Username: "api", Password: "new-pass"}}}); err != nil {
		t.Fatal(err)
	}
	old := testkit.DialRaw(t, addr)
	if resp := old.Call("auth", appUser, appPass); resp.GetStatus() != "Error" {
		t.Fatalf("old credentials after Update: %v", resp)
	}
	old.ExpectClosed()
	r := testkit.DialRaw(t, addr)
	if resp := r.Call("auth", "api", "new-pass"); resp.GetStatus() != "Ok" {
		t.Fatalf("new credentials: %v", resp)
	}
	if resp := before.Call("PING"); resp.GetStatus() != "Ok" {
		t.Fatalf("a client logged in before the Update: %v", resp)
	}
	if err := p.Update(proxy.Options{Users: []proxy.User{{Username: "a", Password: ""}, {Username: "a", Password: "x"}}, MaxClients: -1}); err == nil ||
		!strings.Contains(err.Error(), "empty password") || !strings.Contains(err.Error(), "twice") || !strings.Contains(err.Error(), "MaxClients") {
		t.Fatalf("invalid Update: %v", err)
	}
	if resp := testkit.DialRaw(t, addr).Call("auth", "api", "new-pass"); resp.GetStatus() != "Ok" {
		t.Fatalf("an invalid Update changed the users: %v", resp)
	}
}

// Over MaxClients a connection gets an "Error" naming the limit and a
// close; the limit is counted and reported; a place that frees up is
// taken again.
func TestMaxClients(t *testing.T) {
	var ev events
	p, addr := startProxy(t, &stub{}, proxy.Options{MaxClients: 2, OnEvent: ev.record})
	a, b := login(t, addr), login(t, addr)
	_ = b
	over := testkit.DialRaw(t, addr)
	resp := over.Call("auth", appUser, appPass)
	if resp.GetStatus() != "Error" || string(resp.GetResult()) != "ConnectionFailed: too many clients: max_clients (2) reached" {
		t.Fatalf("third client: %v", resp)
	}
	over.ExpectClosed()
	if st := p.Stats(); st.LimitHits != 1 || st.Clients != 2 {
		t.Fatalf("stats: %+v", st)
	}
	if evs := ev.list(); len(evs) != 1 || evs[0].Kind != proxy.EventClientLimit {
		t.Fatalf("events: %v", evs)
	}
	a.Conn().Close()
	waitFor(t, "the first client to leave", func() bool { return p.Stats().Clients == 1 })
	if resp := login(t, addr).Call("PING"); resp.GetStatus() != "Ok" {
		t.Fatalf("after a client left: %v", resp)
	}
}

// Options are validated, defaults documented.
func TestNewValidates(t *testing.T) {
	if _, err := proxy.New(nil, proxy.Options{}); err == nil {
		t.Fatal("nil backend accepted")
	}
	_, err := proxy.New(&stub{}, proxy.Options{Users: []proxy.User{{Password: "x"}}, AuthTimeout: -time.Second, ClientBuffer: -1})
	if err == nil || !strings.Contains(err.Error(), "empty name") || !strings.Contains(err.Error(), "AuthTimeout") || !strings.Contains(err.Error(), "ClientBuffer") {
		t.Fatalf("New: %v", err)
	}
	u := proxy.User{Username: "u", Password: "hidden-pw"}
	for _, s := range []string{u.String(), u.GoString()} {
		if strings.Contains(s, "hidden-pw") {
			t.Fatalf("User prints its password: %s", s)
		}
	}
}
