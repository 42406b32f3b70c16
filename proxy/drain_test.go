package proxy_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// blocking is a backend whose requests wait until the test releases them.
func blocking(release <-chan struct{}, started chan<- string) *stub {
	return &stub{exec: func(ctx context.Context, command string, args []string) (fleare.Reply, error) {
		started <- command
		select {
		case <-release:
			return fleare.Reply{Status: "Ok", Result: []byte("PONG " + args[0]), ClientID: "1-x"}, nil
		case <-ctx.Done():
			return fleare.Reply{}, ctx.Err()
		}
	}}
}

// Shutdown closes the listener and clients not logged in at once, reads no
// new request, lets the requests in flight be answered, then closes the
// clients.
func TestShutdownDrains(t *testing.T) {
	release, started := make(chan struct{}), make(chan string, 8)
	p, addr := startProxy(t, blocking(release, started), proxy.Options{})
	r := login(t, addr)
	pending := testkit.DialRaw(t, addr) // not logged in
	r.Write(append(testkit.Frame(t, "PING", "a"), testkit.Frame(t, "PING", "b")...))
	<-started
	<-started

	done := make(chan error, 1)
	go func() { done <- p.Shutdown(testCtx(t)) }()
	pending.ExpectClosed()
	// Sessions are drained before listeners close.
	waitFor(t, "the listener to close", func() bool { return p.Stats().Listeners == 0 })
	if nc, err := net.Dial("tcp", addr); err == nil {
		nc.Close()
		t.Fatal("listener still open during Shutdown")
	}
	r.Send("PING", "after")     // not read any more
	r.Send("PING", "after-too") // nor this one
	close(release)
	for _, want := range []string{"PONG a", "PONG b"} {
		if resp := r.Next(); string(resp.GetResult()) != want {
			t.Fatalf("got %v, want %s", resp, want)
		}
	}
	r.ExpectClosed()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if len(started) != 0 {
		t.Fatal("a request sent after Shutdown reached the backend")
	}
	if _, err := p.Listen("127.0.0.1:0"); !errors.Is(err, proxy.ErrClosed) {
		t.Fatalf("Listen after Shutdown: %v", err)
	}
}

// When Shutdown's context ends first, the clients still waiting are closed
// and their backend requests canceled; the error says how many.
func TestShutdownBounded(t *testing.T) {
	release, started := make(chan struct{}), make(chan string, 8)
	defer close(release)
	p, addr := startProxy(t, blocking(release, started), proxy.Options{})
	r := login(t, addr)
	r.Send("PING", "never")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Shutdown(ctx)
	var de *proxy.DrainError
	if !errors.As(err, &de) || de.Forced != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	r.ExpectClosed()
	if st := p.Stats(); st.Dropped.Forced != 1 || st.Clients != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// A new listener opens before the old one closes (a changed address):
// clients accepted by the old one stay, new ones come in on the new one.
func TestListenerMakeBeforeBreak(t *testing.T) {
	p, err := proxy.New(&stub{}, proxy.Options{Users: appUsers})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l1, err := p.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	old := login(t, l1.Addr().String())
	l2, err := p.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Listeners != 2 {
		t.Fatalf("stats: %+v", st)
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if nc, err := net.Dial("tcp", l1.Addr().String()); err == nil {
		nc.Close()
		t.Fatal("old address still accepts")
	}
	if resp := old.Call("PING", "old"); string(resp.GetResult()) != "PONG old" {
		t.Fatalf("client of the old listener: %v", resp)
	}
	if resp := login(t, l2.Addr().String()).Call("PING", "new"); string(resp.GetResult()) != "PONG new" {
		t.Fatalf("client of the new listener: %v", resp)
	}
	if st := p.Stats(); st.Listeners != 1 || st.Clients != 2 {
		t.Fatalf("stats: %+v", st)
	}
}
