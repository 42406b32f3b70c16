package fleartest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// raw is a bare protocol connection for driving the server byte by byte.
type raw struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, s *Server) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &raw{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (r *raw) send(command string, args ...string) {
	r.t.Helper()
	b, err := wire.AppendFrame(nil, &wire.Command{Command: command, Args: args})
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) recv() (*wire.Response, error) {
	body, err := wire.ReadFrame(r.br, nil)
	if err != nil {
		return nil, err
	}
	var resp wire.Response
	if err := proto.Unmarshal(body, &resp); err != nil {
		r.t.Fatal(err)
	}
	return &resp, nil
}

// call sends a command and returns the reply's status and result.
func (r *raw) call(command string, args ...string) (string, string) {
	r.t.Helper()
	r.send(command, args...)
	resp, err := r.recv()
	if err != nil {
		r.t.Fatalf("%s: %v", command, err)
	}
	return resp.GetStatus(), string(resp.GetResult())
}

// expectClosed checks that the server closes the connection.
func (r *raw) expectClosed() {
	r.t.Helper()
	if resp, err := r.recv(); err == nil {
		r.t.Fatalf("connection still open: got %v", resp)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		r.t.Fatal("connection not closed")
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var users = map[string]string{"root": "s3cret"}

func TestCommands(t *testing.T) {
	s := NewServer(t, Options{Users: users})
	r := dialRaw(t, s)
	if st, res := r.call("auth", "root", "s3cret"); st != "Ok" || res != "Connected" {
		t.Fatalf("auth: %s %q", st, res)
	}
	tests := []struct {
		cmd        string
		args       []string
		wantStatus string
		want       string
	}{
		{"PING", nil, "Ok", "PONG "},
		{"ping", []string{"a", "b"}, "Ok", "PONG a b"},
		{"SET", []string{"k", "v"}, "Ok", ""},
		{"get", []string{"k"}, "Ok", "v"},
		{"GET", []string{"missing"}, "Ok", ""},
		{"SET", []string{"doc", `{"a":{"b":42,"c":"x"}}`}, "Ok", ""},
		{"GET", []string{"doc", "a.b"}, "Ok", "42"},
		{"GET", []string{"doc", "a.c"}, "Ok", `"x"`},
		{"Exists", []string{"k", "doc", "missing"}, "Ok", "2"},
		{"DELETE", []string{"k"}, "Ok", ""},
		{"EXISTS", []string{"k"}, "Ok", "0"},
		{"FOO", nil, "Error", "InvalidCommandError: The system could not process your request due to an unrecognized command input -> \"FOO\"\n"},
		{"SET", []string{"k"}, "Error", "InvalidArgumentError: Key and value must be provided\n"},
		{"GET", nil, "Error", "InvalidKeyError: Key must be provided\n"},
		{"GET", []string{"a", "b", "c"}, "Error", "InvalidArgumentError: invalid number of arguments\n"},
		{"DELETE", nil, "Error", "InvalidArgumentError: Key must be provided, example: DELETE key\n"},
		{"EXISTS", nil, "Error", "InvalidKeyError: Key must be provided\n"},
	}
	for _, tt := range tests {
		st, res := r.call(tt.cmd, tt.args...)
		if st != tt.wantStatus || res != tt.want {
			t.Errorf("%s %q = %s %q, want %s %q", tt.cmd, tt.args, st, res, tt.wantStatus, tt.want)
		}
	}
	if got := s.Requests(); got != uint64(len(tests)) {
		t.Errorf("Requests() = %d, want %d", got, len(tests))
	}
}

func TestStatusAndSession(t *testing.T) {
	s := NewServer(t, Options{Users: users})
	r := dialRaw(t, s)
	r.call("auth", "root", "s3cret")
	r.call("SET", "a", "12345678")
	_, res := r.call("STATUS")
	var st struct {
		ServerStatus string                     `json:"server_status"`
		UpTime       time.Time                  `json:"up_time"`
		ShardInfo    map[string]json.RawMessage `json:"shard_info"`
	}
	if err := json.Unmarshal([]byte(res), &st); err != nil {
		t.Fatal(err)
	}
	if st.ServerStatus != "running" || time.Since(st.UpTime) > time.Minute || string(st.ShardInfo["shard_count"]) != "1" {
		t.Errorf("STATUS = %s", res)
	}
	if !strings.Contains(string(st.ShardInfo["0"]), `"key_length":1`) || !strings.Contains(string(st.ShardInfo["0"]), `"total_size":"8 bytes"`) {
		t.Errorf("shard 0 = %s", st.ShardInfo["0"])
	}
	_, res = r.call("SESSION")
	var sess struct {
		SessionID string `json:"session_id"`
		Status    int    `json:"status"`
		User      struct{ Username, Password, Role string }
	}
	if err := json.Unmarshal([]byte(res), &sess); err != nil {
		t.Fatal(err)
	}
	if sess.Status != 1 || sess.User.Username != "root" || sess.User.Password != "*******" || !strings.Contains(sess.SessionID, "127.0.0.1:") {
		t.Errorf("SESSION = %s", res)
	}
	if strings.Contains(res, "s3cret") {
		t.Error("SESSION reveals the password")
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name  string
		users map[string]string
		cmd   string
		args  []string
		ok    bool
		msg   string
	}{
		{"good", users, "auth", []string{"root", "s3cret"}, true, ""},
		{"first frame is auth whatever its command", users, "PING", []string{"root", "s3cret"}, true, ""},
		{"wrong password", users, "auth", []string{"root", "nope"}, false, msgBadCredentials},
		{"unknown user", users, "auth", []string{"bob", "s3cret"}, false, msgBadCredentials},
		{"no credentials", users, "auth", nil, false, msgNeedsUser},
		{"no auth", nil, "auth", nil, true, ""},
		{"credentials sent to a server without auth", nil, "auth", []string{"root", "s3cret"}, false, msgAuthDisabled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewServer(t, Options{Users: tt.users})
			r := dialRaw(t, s)
			st, res := r.call(tt.cmd, tt.args...)
			if tt.ok {
				if st != "Ok" || res != "Connected" {
					t.Fatalf("got %s %q", st, res)
				}
				if err := s.WaitConns(ctxT(t), 1); err != nil {
					t.Fatal(err)
				}
				return
			}
			if st != "Error" || res != tt.msg {
				t.Fatalf("got %s %q, want Error %q", st, res, tt.msg)
			}
			r.expectClosed()
			if s.Conns() != 0 {
				t.Fatalf("Conns() = %d after a failed auth", s.Conns())
			}
		})
	}
}

func TestPipelinedRepliesInOrder(t *testing.T) {
	s := NewServer(t, Options{})
	r := dialRaw(t, s)
	r.call("auth")
	var batch []byte
	const n = 200
	for i := range n {
		var err error
		batch, err = wire.AppendFrame(batch, &wire.Command{Command: "PING", Args: []string{strings.Repeat("x", i%7), "n", strconv.Itoa(i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.nc.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		resp, err := r.recv()
		if err != nil {
			t.Fatal(err)
		}
		want := "PONG " + strings.Repeat("x", i%7) + " n " + strconv.Itoa(i)
		if string(resp.GetResult()) != want {
			t.Fatalf("reply %d = %q, want %q", i, resp.GetResult(), want)
		}
	}
}

func TestInvalidFrames(t *testing.T) {
	s := NewServer(t, Options{})
	r := dialRaw(t, s)
	r.call("auth")

	// Not a Command: an Error reply, and the connection stays.
	bad := []byte{0, 0, 0, 3, 0xff, 0xff, 0xff}
	if _, err := r.nc.Write(bad); err != nil {
		t.Fatal(err)
	}
	resp, err := r.recv()
	if err != nil || resp.GetStatus() != "Error" || !strings.HasPrefix(string(resp.GetResult()), "invalid command format") {
		t.Fatalf("invalid protobuf: %v %v", resp, err)
	}
	if st, res := r.call("PING"); st != "Ok" || res != "PONG " {
		t.Fatalf("connection unusable after an invalid command: %s %q", st, res)
	}

	for _, hdr := range [][]byte{{0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {0, 0xa0, 0, 1}} {
		r := dialRaw(t, s)
		r.call("auth")
		if _, err := r.nc.Write(hdr); err != nil {
			t.Fatal(err)
		}
		r.expectClosed()
	}
}

func TestStopRestart(t *testing.T) {
	s := NewServer(t, Options{})
	addr := s.Addr()
	r := dialRaw(t, s)
	r.call("auth")
	r.call("SET", "k", "kept")
	s.Stop()
	r.expectClosed()
	if s.Conns() != 0 {
		t.Fatalf("Conns() = %d after Stop", s.Conns())
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Stop")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err == nil {
		t.Fatal("Restart of a running server succeeded")
	}
	if s.Addr() != addr {
		t.Fatalf("address changed: %s -> %s", addr, s.Addr())
	}
	r = dialRaw(t, s)
	r.call("auth")
	if _, res := r.call("GET", "k"); res != "kept" {
		t.Fatalf("data lost across restart: %q", res)
	}
}

func TestCloseClientConnections(t *testing.T) {
	s := NewServer(t, Options{})
	r1, r2 := dialRaw(t, s), dialRaw(t, s)
	r1.call("auth")
	r2.call("auth")
	if err := s.WaitConns(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	s.CloseClientConnections()
	r1.expectClosed()
	r2.expectClosed()
	if err := s.WaitConns(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	r3 := dialRaw(t, s)
	if st, _ := r3.call("auth"); st != "Ok" {
		t.Fatal("not accepting after CloseClientConnections")
	}
}

func TestFaultHooks(t *testing.T) {
	s := NewServer(t, Options{Users: users})

	s.RefuseNew(true)
	r := dialRaw(t, s)
	r.send("auth", "root", "s3cret")
	r.expectClosed()
	s.RefuseNew(false)

	s.FailAuth(true)
	r = dialRaw(t, s)
	if st, res := r.call("auth", "root", "s3cret"); st != "Error" || res != msgBadCredentials {
		t.Fatalf("FailAuth: %s %q", st, res)
	}
	s.FailAuth(false)

	s.SetUsers(map[string]string{"root": "rotated"})
	r = dialRaw(t, s)
	if st, _ := r.call("auth", "root", "s3cret"); st != "Error" {
		t.Fatal("old password accepted after SetUsers")
	}
	r = dialRaw(t, s)
	if st, _ := r.call("auth", "root", "rotated"); st != "Ok" {
		t.Fatal("new password refused after SetUsers")
	}

	s.StallNew(true)
	r = dialRaw(t, s)
	r.send("auth", "root", "rotated")
	_ = r.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := r.recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stalled connection answered: %v", err)
	}
	s.StallNew(false)
}

func TestLatency(t *testing.T) {
	s := NewServer(t, Options{Latency: 30 * time.Millisecond})
	r := dialRaw(t, s)
	r.call("auth") // the auth reply is not delayed
	start := time.Now()
	r.call("PING")
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("reply after %v, want at least 30ms", d)
	}
	s.SetLatency(0)
}

// With SerialAccept a silent client blocks every other handshake until it
// leaves, as on the real server.
func TestSerialAcceptSilentClientBlocks(t *testing.T) {
	s := NewServer(t, Options{SerialAccept: true})
	silent := dialRaw(t, s)
	if err := s.Wait(ctxT(t), func() bool { return s.Accepted() == 1 }); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, s)
	r.send("auth")
	_ = r.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := r.recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second client answered while the first was silent: %v", err)
	}
	silent.nc.Close()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := r.recv()
	if err != nil || resp.GetStatus() != "Ok" {
		t.Fatalf("second client after the first left: %v %v", resp, err)
	}
}

// Strict mode strands a connection that arrives during another handshake,
// and from then on the listener is wedged, as the real server's is: later
// connections are stranded too, even one after another, until Restart.
func TestStrictStrandsAndWedges(t *testing.T) {
	s := NewServer(t, Options{Strict: true})
	first := dialRaw(t, s) // handshake in progress: the server waits for its auth frame
	if err := s.Wait(ctxT(t), func() bool { return s.Accepted() == 1 }); err != nil {
		t.Fatal(err)
	}
	second := dialRaw(t, s)
	second.send("auth")
	if err := s.Wait(ctxT(t), func() bool { return s.Stranded() == 1 }); err != nil {
		t.Fatal(err)
	}
	if st, _ := first.call("auth"); st != "Ok" {
		t.Fatal("first handshake failed")
	}
	_ = second.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := second.recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("stranded connection answered: %v", err)
	}
	if !s.Wedged() || s.Overlaps().Handshakes != 1 {
		t.Fatalf("wedged %v, overlaps %+v", s.Wedged(), s.Overlaps())
	}
	// One after another no longer helps: the listener is wedged.
	third := dialRaw(t, s)
	third.send("auth")
	if err := s.Wait(ctxT(t), func() bool { return s.Stranded() == 2 }); err != nil {
		t.Fatal(err)
	}
	if s.Conns() != 1 {
		t.Fatalf("Conns() = %d on a wedged listener", s.Conns())
	}
	// Until a restart.
	s.Stop()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Wedged() {
		t.Fatal("still wedged after Restart")
	}
	if st, _ := dialRaw(t, s).call("auth"); st != "Ok" {
		t.Fatal("handshake after Restart failed")
	}
}

// Handshakes one after another on a strict server are all answered.
func TestStrictSequentialHandshakes(t *testing.T) {
	s := NewServer(t, Options{Strict: true})
	for range 5 {
		if st, _ := dialRaw(t, s).call("auth"); st != "Ok" {
			t.Fatal("sequential handshake failed")
		}
	}
	if s.Stranded() != 0 || s.Wedged() || s.Overlaps() != (Overlaps{}) {
		t.Fatalf("stranded %d, wedged %v, overlaps %+v", s.Stranded(), s.Wedged(), s.Overlaps())
	}
}

func TestStartErrors(t *testing.T) {
	s := NewServer(t, Options{})
	if _, err := Start(Options{Addr: s.Addr()}); err == nil {
		t.Fatal("second server on the same address started")
	}
	s.Close()
	s.Close() // idempotent
	if err := s.Restart(); err == nil {
		t.Fatal("Restart after Close succeeded")
	}
}
