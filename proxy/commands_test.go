package proxy_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/internal/wire"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// Replies reach the client as the server sent them, with one change: where
// the server's reply carried a client id (its pooled connection's), the
// client's own replaces it; where it carried none, none.
func TestRepliesCarryTheClientsID(t *testing.T) {
	b := &stub{exec: func(_ context.Context, command string, args []string) (fleare.Reply, error) {
		switch command {
		case "SET":
			return fleare.Reply{Status: "Ok"}, nil
		case "GET":
			return fleare.Reply{Status: "Ok", Result: []byte("v")}, nil
		case "FOO":
			return fleare.Reply{Status: "Error", Result: []byte("InvalidCommandError: nope\n"), ClientID: "9-10.0.0.1:5"}, nil
		}
		return fleare.Reply{Status: "Ok", Result: []byte("PONG "), ClientID: "9-10.0.0.1:5"}, nil
	}}
	_, addr := startProxy(t, b, proxy.Options{})
	r := testkit.DialRaw(t, addr)
	id := r.Call("auth", appUser, appPass).GetClientId()
	for _, tt := range []struct {
		cmd, status, result, id string
	}{
		{"SET", "Ok", "", ""},
		{"GET", "Ok", "v", ""},
		{"FOO", "Error", "InvalidCommandError: nope\n", id},
		{"PING", "Ok", "PONG ", id},
	} {
		resp := r.Call(tt.cmd, "k", "v")
		if resp.GetStatus() != tt.status || string(resp.GetResult()) != tt.result || resp.GetClientId() != tt.id {
			t.Errorf("%s: got %v, want %s %q id %q", tt.cmd, resp, tt.status, tt.result, tt.id)
		}
	}
}

// What the proxy answers itself, mirroring the real server, and what never
// reaches the backend: undecodable frames, an empty command name, the
// commands that crash the server, zero-length and oversized frames.
func TestProxyAnswersAndProtects(t *testing.T) {
	b := &stub{}
	p, addr := startProxy(t, b, proxy.Options{})
	r := login(t, addr)
	id := r.Call("SESSION").GetClientId()

	r.Write([]byte{0, 0, 0, 3, 0xff, 0xff, 0xff})
	resp := r.Next()
	if resp.GetStatus() != "Error" || string(resp.GetResult()) != "invalid command format: proto: cannot parse invalid wire-format data\n" || resp.GetClientId() != id {
		t.Fatalf("garbage: %v", resp)
	}
	resp = r.Call("", "a", "b")
	want := "InvalidCommandError: The system could not process your request due to an unrecognized command input -> \"\"\n"
	if resp.GetStatus() != "Error" || string(resp.GetResult()) != want || resp.GetClientId() != id {
		t.Fatalf("no command name: %v", resp)
	}
	for _, cmd := range []string{"STR.GET", "num.get"} {
		resp := r.Call(cmd, "missing")
		if resp.GetStatus() != "Error" || !strings.HasPrefix(string(resp.GetResult()), "ProxyError: "+strings.ToUpper(cmd)+" is refused") {
			t.Fatalf("%s: %v", cmd, resp)
		}
	}
	if resp := r.Call("PING", "still", "open"); string(resp.GetResult()) != "PONG still open" {
		t.Fatalf("after refusals: %v", resp)
	}
	if got := b.seen(); len(got) != 2 || got[0] != "SESSION" || got[1] != "PING still open" {
		t.Fatalf("backend saw %q", got)
	}

	// A zero-length frame closes the connection without an answer, as
	// the real server does; so does a length over 10 MiB.
	r.Write([]byte{0, 0, 0, 0})
	r.ExpectClosed()
	big := login(t, addr)
	big.Write(binary.BigEndian.AppendUint32(nil, wire.MaxFrameLen+1))
	big.ExpectClosed()
	if got := b.seen(); len(got) != 2 {
		t.Fatalf("backend saw %q", got)
	}
	if st := p.Stats(); st.Dropped.BadFrame != 2 || st.Errors != 4 || st.Requests != 6 {
		t.Fatalf("stats: %+v", st)
	}
}

// A request the backend fails gets an "Error" from the proxy, and the
// client stays connected.
func TestBackendFailure(t *testing.T) {
	b := &stub{exec: func(_ context.Context, command string, _ []string) (fleare.Reply, error) {
		if command == "FAIL" {
			return fleare.Reply{}, &fleare.TimeoutError{Op: "acquire", Addr: "10.0.0.5:9219"}
		}
		return fleare.Reply{Status: "Ok", Result: []byte("PONG ")}, nil
	}}
	p, addr := startProxy(t, b, proxy.Options{})
	r := login(t, addr)
	resp := r.Call("FAIL")
	if resp.GetStatus() != "Error" || string(resp.GetResult()) != "ProxyError: fleare: 10.0.0.5:9219: timed out waiting for a free connection\n" {
		t.Fatalf("failed request: %v", resp)
	}
	if resp := r.Call("PING"); resp.GetStatus() != "Ok" {
		t.Fatalf("after a failure: %v", resp)
	}
	if st := p.Stats(); st.BackendErrors != 1 || st.Errors != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// SESSION describes the client's own login, not the pooled connection's.
func TestSession(t *testing.T) {
	srv := newServer(t)
	_, addr := startProxy(t, newPool(t, srv, 2, 0), proxy.Options{})
	r := login(t, addr)
	resp := r.Call("SESSION")
	var s struct {
		SessionID string `json:"session_id"`
		User      struct{ Username, Password, Role string }
		Status    int       `json:"status"`
		CreatedAt time.Time `json:"created_at"`
	}
	if err := json.Unmarshal(resp.GetResult(), &s); err != nil {
		t.Fatalf("%v: %s", err, resp.GetResult())
	}
	if s.SessionID != resp.GetClientId() || s.User.Username != appUser || s.User.Password != "*******" ||
		s.User.Role != "Admin" || s.Status != 1 || time.Since(s.CreatedAt) > time.Minute {
		t.Fatalf("SESSION = %s (client id %s)", resp.GetResult(), resp.GetClientId())
	}
	if strings.Contains(string(resp.GetResult()), srvUser) {
		t.Fatalf("SESSION shows the pool's login: %s", resp.GetResult())
	}
}

// The project's own client works through the proxy against a strict
// server: commands, typed helpers and errors as without the proxy.
func TestFleareClientThroughProxy(t *testing.T) {
	srv := newServer(t)
	pool := newPool(t, srv, 2, 0)
	_, addr := startProxy(t, pool, proxy.Options{})
	c := appClient(t, addr, 4)
	ctx := testCtx(t)
	if err := c.Set(ctx, "k", `{"a":{"b":"c"}}`); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k"); err != nil || v != `{"a":{"b":"c"}}` {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if n, err := c.Exists(ctx, "k", "missing"); err != nil || n != 1 {
		t.Fatalf("Exists = %d, %v", n, err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := c.Session(ctx)
	if err != nil || info.User.Username != appUser {
		t.Fatalf("Session = %+v, %v", info, err)
	}
	var se *fleare.ServerError
	if _, err := c.Do(ctx, "SET", "only-key"); !errors.As(err, &se) || se.Kind() != "InvalidArgumentError" {
		t.Fatalf("SET with one arg: %v", err)
	}
	if srv.Stranded() != 0 || srv.Accepted() != 2 {
		t.Fatalf("server: %d accepted, %d stranded", srv.Accepted(), srv.Stranded())
	}
}

// Against a strict server: the frames that would make it drop a
// connection (zero-length, over 10 MiB) and the commands that crash it
// never reach it; its connections, accept count and request count show
// nothing but the requests that were valid.
func TestServerNeverSeesHarm(t *testing.T) {
	srv := newServer(t)
	_, addr := startProxy(t, newPool(t, srv, 2, 0), proxy.Options{})
	for _, bad := range [][]byte{{0, 0, 0, 0}, binary.BigEndian.AppendUint32(nil, wire.MaxFrameLen+1)} {
		r := login(t, addr)
		r.Call("PING")
		r.Write(bad)
		r.ExpectClosed()
	}
	r := login(t, addr)
	for _, cmd := range []string{"STR.GET", "NUM.GET", "Str.Get", " STR.GET", "num.get\t", "STR.GET missing", "\u017ftr.get"} {
		if resp := r.Call(cmd, "missing"); resp.GetStatus() != "Error" {
			t.Fatalf("%s: %v", cmd, resp)
		}
	}
	// A second login after the first: the server never sees an app's
	// credentials, and a pooled connection's login is the manager's.
	for _, cmd := range []string{"auth", "AUTH"} {
		if resp := r.Call(cmd, appUser, appPass); resp.GetStatus() != "Error" || !strings.HasPrefix(string(resp.GetResult()), "ProxyError: AUTH is refused") {
			t.Fatalf("%s after login: %v", cmd, resp)
		}
	}
	if srv.Requests() != 2 || srv.Accepted() != 2 || srv.Conns() != 2 {
		t.Fatalf("server: %d requests, %d accepted, %d connections", srv.Requests(), srv.Accepted(), srv.Conns())
	}
}

// Without Options.Dial, SUBSCRIBE closes the client's connection: it would
// otherwise wait for pushes that never come.
func TestSubscribeWithoutDial(t *testing.T) {
	var ev events
	_, addr := startProxy(t, &stub{}, proxy.Options{OnEvent: ev.record})
	r := login(t, addr)
	r.Send("SUBSCRIBE", "news")
	r.ExpectClosed()
	if evs := ev.list(); len(evs) != 1 || evs[0].Kind != proxy.EventClientDropped || !strings.Contains(evs[0].Reason, "pub/sub") {
		t.Fatalf("events: %v", evs)
	}
}
