package fleare

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/poll"
)

// A dial given up on mid-handshake (its pool closed or replaced by a
// reload, its context canceled) is a close the server has not seen yet:
// a loaded server counts the handshake in progress until it reads the end
// of the stream. The next dial to that server waits at the gate until the
// server has dropped the abandoned connection; let in at once, it would
// arrive during that handshake, and the strict server, like the real one,
// strands it and wedges for good. fleartest's HoldHandshakes plays the
// loaded server: it does not get to the first connection until the test
// lets it.
func TestAbandonedDialKeepsGate(t *testing.T) {
	for _, name := range []string{"before auth reply", "after connect", "no half close"} {
		t.Run(name, func(t *testing.T) {
			users := map[string]string{"root": "pw"}
			srv := fleartest.NewServer(t, fleartest.Options{Users: users, Strict: true})
			o := Options{Username: "root", Password: "pw", ConnectTimeout: 10 * time.Second}
			tctx, tcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer tcancel()

			srv.HoldHandshakes(true)
			defer srv.HoldHandshakes(false)
			ctx, cancel := context.WithCancel(tctx)
			first := make(chan error, 1)
			dialer := o
			switch name {
			case "after connect":
				// The cancel comes while the socket is being opened: the
				// connect completes, and nothing is sent on it.
				dialer.Dialer = func(dctx context.Context, network, addr string) (net.Conn, error) {
					cancel()
					var d net.Dialer
					return d.DialContext(dctx, network, addr)
				}
			case "no half close":
				// A custom Dialer's connection that cannot half close: the
				// abandoned dial finishes its handshake instead.
				dialer.Dialer = func(dctx context.Context, network, addr string) (net.Conn, error) {
					var d net.Dialer
					nc, err := d.DialContext(dctx, network, addr)
					return struct{ net.Conn }{nc}, err
				}
			}
			go func() {
				c, err := Dial(ctx, srv.Host(), srv.Port(), dialer)
				if c != nil {
					_ = c.Close()
				}
				first <- err
			}()
			if err := srv.Wait(tctx, func() bool { return srv.Accepted() == 1 }); err != nil {
				t.Fatal(err)
			}
			cancel()
			if err := <-first; !errors.Is(err, context.Canceled) {
				t.Fatalf("the canceled dial: %v", err)
			}

			second := make(chan error, 1)
			go func() {
				c, err := Dial(tctx, srv.Host(), srv.Port(), o)
				if c != nil {
					_ = c.Close()
				}
				second <- err
			}()
			// The second dial either reaches the server (and is stranded),
			// or waits at a gate someone holds: the abandoned dial.
			key := srv.Addr()
			poll.Until(t, "the second dial to reach the server or wait at a held gate", func() bool {
				gates.mu.Lock()
				g := gates.m[key]
				held := g != nil && g.busy && g.dials.len() > 0
				gates.mu.Unlock()
				return held || srv.Accepted() == 2
			})
			srv.HoldHandshakes(false)
			if err := <-second; err != nil {
				t.Errorf("the next dial: %v", err)
			}
			if srv.Stranded() != 0 || srv.Wedged() || srv.Overlaps().Handshakes != 0 {
				t.Fatalf("stranded %d, wedged %v, overlaps %+v", srv.Stranded(), srv.Wedged(), srv.Overlaps())
			}
		})
	}
}

// A connect the server refuses says so: the connect is bounded by its own
// deadline rather than the caller's cancel, and that bound is no cause.
func TestRefusedDialSaysRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	_, err = Dial(context.Background(), "127.0.0.1", port, Options{ConnectTimeout: 5 * time.Second})
	var ce *ConnError
	if !errors.As(err, &ce) || ce.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: %v", err)
	}
}
