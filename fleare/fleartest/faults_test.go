package fleartest

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// authed returns n authenticated raw connections.
func authed(t *testing.T, s *Server, n int) []*raw {
	rs := make([]*raw, n)
	for i := range rs {
		rs[i] = dialRaw(t, s)
		if st, _ := rs[i].call("auth"); st != "Ok" {
			t.Fatal("auth failed")
		}
	}
	return rs
}

// Disconnects that come together are recorded; so are disconnects during a
// handshake and handshakes right after a disconnect. A window of a minute
// makes "together" certain.
func TestOverlapsRecorded(t *testing.T) {
	s := NewServer(t, Options{DisconnectWindow: time.Minute})
	rs := authed(t, s, 3)
	if got := s.Overlaps(); got != (Overlaps{}) {
		t.Fatalf("overlaps before any close: %+v", got)
	}
	rs[0].nc.Close()
	rs[1].nc.Close()
	if err := s.WaitConns(ctxT(t), 1); err != nil {
		t.Fatal(err)
	}
	if got := s.Overlaps(); got.Disconnects != 1 || got.DisconnectsDuringHandshake != 0 {
		t.Fatalf("two closes within the window: %+v", got)
	}

	silent := dialRaw(t, s) // a handshake in progress
	if err := s.Wait(ctxT(t), func() bool { return s.Accepted() == 4 }); err != nil {
		t.Fatal(err)
	}
	if got := s.Overlaps(); got.DisconnectsDuringHandshake != 1 {
		t.Fatalf("a handshake starting within the window of a close: %+v", got)
	}
	rs[2].nc.Close()
	if err := s.WaitConns(ctxT(t), 0); err != nil {
		t.Fatal(err)
	}
	if got := s.Overlaps(); got.DisconnectsDuringHandshake != 2 {
		t.Fatalf("a close during a handshake: %+v", got)
	}
	silent.nc.Close()
}

func dialTCP(s *Server) (net.Conn, error) { return net.DialTimeout("tcp", s.Addr(), time.Second) }

// Closes spaced wider than the window are not counted.
func TestSpacedClosesNotCounted(t *testing.T) {
	const window = time.Millisecond
	s := NewServer(t, Options{DisconnectWindow: window})
	rs := authed(t, s, 3)
	for i, r := range rs {
		r.nc.Close()
		if err := s.WaitConns(ctxT(t), len(rs)-1-i); err != nil { // the close is recorded
			t.Fatal(err)
		}
		// The next close happens at least 3 windows after this one was
		// recorded: the spacing under test, not a synchronisation.
		time.Sleep(3 * window)
	}
	if got := s.Overlaps(); got != (Overlaps{}) {
		t.Fatalf("spaced closes counted: %+v", got)
	}
}

func TestTypedCommands(t *testing.T) {
	s := NewServer(t, Options{})
	r := authed(t, s, 1)[0]
	tests := []struct {
		cmd        string
		args       []string
		wantStatus string
		want       string
	}{
		{"STR.SET", []string{"s", "hello"}, "Ok", ""},
		{"STR.GET", []string{"s"}, "Ok", "hello"},
		{"GET", []string{"s"}, "Ok", "hello"},
		{"NUM.SET", []string{"n", "42"}, "Ok", ""},
		{"NUM.GET", []string{"n"}, "Ok", "42"},
		{"NUM.SET", []string{"f", "11.5"}, "Ok", ""},
		{"GET", []string{"f"}, "Ok", "11.5"},
		{"NUM.SET", []string{"n", "abc"}, "Error", "InvalidValueError: provided value is not a valid number\n"},
		{"STR.GET", []string{"n"}, "Error", "InvalidValueError: the existing value for the provided key must be a string\n"},
		{"NUM.GET", []string{"s"}, "Error", "InvalidValueError: the existing value for the provided key must be a number\n"},
		{"SET", []string{"plain", "v"}, "Ok", ""},
		{"STR.GET", []string{"plain"}, "Error", "InvalidValueError: the existing value for the provided key must be a string\n"},
		{"STR.GET", nil, "Error", "InvalidKeyError: Key must be provided\n"},
		{"STR.GET", []string{"a", "b"}, "Error", "InvalidArgumentError: invalid number of arguments\n"},
		{"STR.GET", []string{"missing"}, "Ok", ""},
		{"NUM.GET", []string{"missing"}, "Ok", ""},
	}
	for _, tt := range tests {
		if st, res := r.call(tt.cmd, tt.args...); st != tt.wantStatus || res != tt.want {
			t.Errorf("%s %q = %s %q, want %s %q", tt.cmd, tt.args, st, res, tt.wantStatus, tt.want)
		}
	}
}

// With CrashOnMissingKey, STR.GET or NUM.GET of a missing key kills the
// server as it kills the real one: every connection drops unanswered and
// nobody gets in until Restart. The data survives.
func TestCrashOnMissingKey(t *testing.T) {
	for _, cmd := range []string{"STR.GET", "num.get"} {
		t.Run(cmd, func(t *testing.T) {
			s := NewServer(t, Options{CrashOnMissingKey: true})
			rs := authed(t, s, 2)
			rs[0].call("STR.SET", "kept", "v")
			rs[0].send(cmd, "missing")
			rs[0].expectClosed()
			rs[1].expectClosed()
			if err := s.Wait(ctxT(t), s.Crashed); err != nil {
				t.Fatal(err)
			}
			if c, err := dialTCP(s); err == nil {
				c.Close()
				t.Fatal("a crashed server accepted a connection")
			}
			if err := s.Restart(); err != nil {
				t.Fatal(err)
			}
			r := authed(t, s, 1)[0]
			if _, res := r.call("STR.GET", "kept"); res != "v" || s.Crashed() {
				t.Fatalf("after restart: %q, crashed %v", res, s.Crashed())
			}
		})
	}
}

func TestExistsCountsInEightBits(t *testing.T) {
	for _, exact := range []bool{false, true} {
		s := NewServer(t, Options{ExactExists: exact})
		r := authed(t, s, 1)[0]
		keys := make([]string, 200)
		for i := range keys {
			keys[i] = "k" + strconv.Itoa(i)
			r.call("SET", keys[i], "v")
		}
		want := "-56"
		if exact {
			want = "200"
		}
		if _, res := r.call("EXISTS", keys...); res != want {
			t.Errorf("ExactExists %v: EXISTS of 200 keys = %q, want %q", exact, res, want)
		}
	}
}

// DropNextAuths closes new connections right after their auth frame,
// without a reply.
func TestDropNextAuths(t *testing.T) {
	s := NewServer(t, Options{})
	s.DropNextAuths(1)
	r := dialRaw(t, s)
	r.send("auth")
	r.expectClosed()
	if st, _ := dialRaw(t, s).call("auth"); st != "Ok" {
		t.Fatal("the second auth was dropped too")
	}
}

// A stray frame follows a reply in the same write, or arrives on its own
// on an idle connection; requests read after one are counted.
func TestStrayFrames(t *testing.T) {
	s := NewServer(t, Options{})
	rs := authed(t, s, 2)
	s.StrayAfterNextReply()
	if _, res := rs[0].call("PING", "one"); res != "PONG one" {
		t.Fatalf("reply %q", res)
	}
	if stray, err := rs[0].recv(); err != nil || string(stray.GetResult()) != "PONG one" {
		t.Fatalf("stray after the reply: %v, %v", stray, err)
	}
	if n := s.WriteStray(); n != 2 {
		t.Fatalf("WriteStray wrote on %d connections, want 2", n)
	}
	for i, r := range rs {
		if stray, err := r.recv(); err != nil || stray.GetStatus() != "Ok" {
			t.Fatalf("connection %d: stray %v, %v", i, stray, err)
		}
	}
	if s.RequestsAfterStray() != 0 {
		t.Fatalf("RequestsAfterStray() = %d before any request", s.RequestsAfterStray())
	}
	rs[1].call("PING")
	if s.RequestsAfterStray() != 1 {
		t.Fatalf("RequestsAfterStray() = %d, want 1", s.RequestsAfterStray())
	}
}

// HoldHandshakes keeps a new connection's handshake in progress, its auth
// frame unread, even after its client gave up, until the hold is lifted:
// a strict server strands a connection arriving meanwhile. A connection
// accepted after the hold is lifted is not held.
func TestHoldHandshakes(t *testing.T) {
	s := NewServer(t, Options{Strict: true})
	s.HoldHandshakes(true)
	first := dialRaw(t, s)
	first.send("auth")
	if err := s.Wait(ctxT(t), func() bool { return s.Accepted() == 1 }); err != nil {
		t.Fatal(err)
	}
	first.nc.Close() // given up: still in its handshake while held
	second := dialRaw(t, s)
	if err := s.Wait(ctxT(t), func() bool { return s.Stranded() == 1 }); err != nil {
		t.Fatalf("a connection during a held handshake: stranded %d", s.Stranded())
	}
	second.nc.Close()
	s.HoldHandshakes(false)
	s.Stop()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	s.HoldHandshakes(true)
	s.HoldHandshakes(false)
	if st, _ := dialRaw(t, s).call("auth"); st != "Ok" || s.Conns() != 1 {
		t.Fatalf("after the hold: %q, %d connections", st, s.Conns())
	}
}
