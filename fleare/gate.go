package fleare

import (
	"context"
	"sync"
)

// The Fleare server authenticates new connections one at a time on its
// accept loop and strands connections that arrive together. Every dial in
// this process therefore passes through a gate per address: one dial plus
// authentication to a given host:port at a time, across all Clients and
// Conns. The gate is keyed by the address as written (net.JoinHostPort of the
// host and port), so "localhost" and "127.0.0.1" are different gates.

var gates = struct {
	mu sync.Mutex
	m  map[string]*gate // guarded by mu; entries removed when unused
}{m: make(map[string]*gate)}

type gate struct {
	sem  chan struct{} // holds a token while a dial is under way
	refs int           // guarded by gates.mu: holders plus waiters
}

// acquireGate waits, as long as ctx allows, until no other dial to addr is
// under way, and returns the function that lets the next one through.
func acquireGate(ctx context.Context, addr string) (release func(), err error) {
	gates.mu.Lock()
	g := gates.m[addr]
	if g == nil {
		g = &gate{sem: make(chan struct{}, 1)}
		gates.m[addr] = g
	}
	g.refs++
	gates.mu.Unlock()

	select {
	case g.sem <- struct{}{}:
		return func() {
			<-g.sem
			unrefGate(addr, g)
		}, nil
	case <-ctx.Done():
		unrefGate(addr, g)
		return nil, ctx.Err()
	}
}

func unrefGate(addr string, g *gate) {
	gates.mu.Lock()
	g.refs--
	if g.refs == 0 {
		delete(gates.m, addr)
	}
	gates.mu.Unlock()
}
