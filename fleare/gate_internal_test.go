package fleare

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

func TestGateKeys(t *testing.T) {
	ctx := context.Background()
	local, _, err := gateKeys(ctx, "localhost", 9220, false)
	if err != nil {
		t.Fatal(err)
	}
	literal, _, err := gateKeys(ctx, "127.0.0.1", 9220, false)
	if err != nil {
		t.Fatal(err)
	}
	mapped, _, err := gateKeys(ctx, "::ffff:127.0.0.1", 9220, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(local, "127.0.0.1:9220") || !slices.Equal(literal, []string{"127.0.0.1:9220"}) || !slices.Equal(mapped, literal) {
		t.Fatalf("localhost %v, 127.0.0.1 %v, ::ffff:127.0.0.1 %v: one server, one gate", local, literal, mapped)
	}
	v6, _, _ := gateKeys(ctx, "::1", 9220, false)
	if !slices.Equal(v6, []string{"[::1]:9220"}) {
		t.Fatalf("::1: %v", v6)
	}
	// A name that resolves to two addresses holds both gates, sorted; one
	// nobody resolves is an error, unless a custom Dialer may know it.
	old := lookupNetIP
	t.Cleanup(func() { lookupNetIP = old })
	lookupNetIP = func(_ context.Context, _, host string) ([]netip.Addr, error) {
		if host == "two.example" {
			return []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("::ffff:10.0.0.1")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	keys, addrs, err := gateKeys(ctx, "two.example", 9220, false)
	if err != nil || !slices.Equal(keys, []string{"10.0.0.1:9220", "10.0.0.2:9220"}) || len(addrs) != 2 || addrs[0].String() != "10.0.0.2:9220" {
		t.Fatalf("two addresses: %v %v %v", keys, addrs, err)
	}
	if _, _, err := gateKeys(ctx, "nowhere.example", 1, false); err == nil {
		t.Fatal("an unresolved name gave gate keys")
	}
	if keys, addrs, err := gateKeys(ctx, "Fake-Host", 1, true); err != nil || addrs != nil || !slices.Equal(keys, []string{"name fake-host:1"}) {
		t.Fatalf("with a Dialer: %v %v %v", keys, addrs, err)
	}
}

// A dial holding the gates of a name that resolves to two addresses keeps
// out a dial to either address and a close of a connection to either; the
// close goes first once the gates are free, and the dial waits out its
// spacing.
func TestGateSetsAndPriority(t *testing.T) {
	ctx := context.Background()
	both, err := enterGates(ctx, []string{"10.0.0.1:1", "10.0.0.2:1"})
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := enterGates(short, []string{"10.0.0.2:1"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a dial got into a held gate: %v", err)
	}
	type entered struct {
		job *gateJob
		at  time.Time
	}
	dialIn := make(chan entered, 1)
	go func() {
		j, err := enterGates(ctx, []string{"10.0.0.2:1"})
		if err != nil {
			t.Error(err)
		}
		dialIn <- entered{j, time.Now()}
	}()
	waitFor(t, func() bool {
		gates.mu.Lock()
		defer gates.mu.Unlock()
		return gates.m["10.0.0.2:1"].dials.len() == 1
	})
	const spacing = 20 * time.Millisecond
	var closedAt atomic.Pointer[time.Time]
	queueClose([]string{"10.0.0.1:1", "10.0.0.2:1"}, spacing, func() { now := time.Now(); closedAt.Store(&now) })
	if closedAt.Load() != nil {
		t.Fatal("a close ran while a dial held its gates")
	}
	both.leave(0)
	if closedAt.Load() == nil { // run by leave, ahead of the queued dial
		t.Fatal("the close did not run when the gates were freed")
	}
	in := <-dialIn
	if gap := in.at.Sub(*closedAt.Load()); gap < spacing {
		t.Fatalf("the dial started %v after the close, within its spacing", gap)
	}
	in.job.leave(0)
	waitFor(t, func() bool {
		gates.mu.Lock()
		defer gates.mu.Unlock()
		return len(gates.m) == 0
	})
}

// Queuing a close never waits for the gate: a caller returning a
// connection goes on while the close waits its turn.
func TestQueueCloseDoesNotWait(t *testing.T) {
	ctx := context.Background()
	j, err := enterGates(ctx, []string{"10.0.0.3:1"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	queueClose([]string{"10.0.0.3:1"}, time.Millisecond, func() { close(done) })
	queueClose([]string{"10.0.0.3:1"}, time.Millisecond, func() {})
	select {
	case <-done:
		t.Fatal("closed while the dial held the gate")
	default:
	}
	j.leave(0)
	<-done
	waitFor(t, func() bool {
		gates.mu.Lock()
		defer gates.mu.Unlock()
		return len(gates.m) == 0
	})
}

// Close returns once every socket the Client opened is closed.
func TestCloseWaitsForSockets(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	c := NewClient(srv.Host(), srv.Port(), Options{PoolSize: 6})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	conns := make([]*Conn, 0, len(c.all))
	for pc := range c.all {
		conns = append(conns, pc.conn)
	}
	c.mu.Unlock()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, conn := range conns {
		select {
		case <-conn.done:
		default:
			t.Fatal("Close returned with a socket open")
		}
	}
	if c.sockets != 0 {
		t.Fatalf("%d sockets counted open after Close", c.sockets)
	}
}

// A name that does not resolve fails its dial with the resolver's error,
// not as if the dial had been canceled; a resolver that does not answer
// within the connect timeout gives a timeout.
func TestResolveErrors(t *testing.T) {
	old := lookupNetIP
	t.Cleanup(func() { lookupNetIP = old })
	lookupNetIP = func(ctx context.Context, _, host string) ([]netip.Addr, error) {
		if host == "stalled.example" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	ctx := context.Background()
	_, err := Dial(ctx, "nowhere.example", 1, Options{ConnectTimeout: time.Minute})
	var dnsErr *net.DNSError
	var ce *ConnError
	if !errors.As(err, &dnsErr) || !errors.As(err, &ce) || ce.Op != "resolve" || errors.Is(err, context.Canceled) {
		t.Fatalf("dial of a name that does not resolve: %v; want a resolve *ConnError wrapping the *net.DNSError", err)
	}
	_, err = Dial(ctx, "stalled.example", 1, Options{ConnectTimeout: 10 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("dial of a name the resolver never answers: %v; want a timeout", err)
	}
}
