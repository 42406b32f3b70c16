package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// forBackends runs a test against a stub backend taking one request per
// call, and against the same stub taking batches, which it checks got at
// least one of more than one request.
func forBackends(t *testing.T, test func(t *testing.T, wrap func(*stub) proxy.Backend)) {
	forBackendsBatching(t, 2, test)
}

// forBackendsBatching is forBackends checking that the largest batch had at
// least least requests.
func forBackendsBatching(t *testing.T, least int, test func(t *testing.T, wrap func(*stub) proxy.Backend)) {
	t.Run("exec", func(t *testing.T) { test(t, func(s *stub) proxy.Backend { return s }) })
	t.Run("batch", func(t *testing.T) {
		var b *batchStub
		test(t, func(s *stub) proxy.Backend { b = &batchStub{stub: s}; return b })
		if n := b.largest(); n < least && !t.Failed() {
			t.Errorf("the largest batch had %d requests: requests read together were not batched", n)
		}
	})
}

// batchStub is a stub that takes batches: it runs a batch's requests
// concurrently (so they complete out of order) and returns their outcomes
// in order.
type batchStub struct {
	*stub
	mu      sync.Mutex
	batches []int // the size of each batch
}

func (b *batchStub) ExecBatch(ctx context.Context, reqs []fleare.Request) []fleare.Outcome {
	b.mu.Lock()
	b.batches = append(b.batches, len(reqs))
	b.mu.Unlock()
	outs := make([]fleare.Outcome, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { outs[i].Reply, outs[i].Err = b.Exec(ctx, r.Command, r.Args...) })
	}
	wg.Wait()
	return outs
}

// largest returns the size of the largest batch.
func (b *batchStub) largest() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, k := range b.batches {
		n = max(n, k)
	}
	return n
}

// countingPool is a pool recording the size of the batches it is given.
type countingPool struct {
	*fleare.Client
	mu      sync.Mutex
	batches map[int]int // batch size -> batches
}

func (c *countingPool) ExecBatch(ctx context.Context, reqs []fleare.Request) []fleare.Outcome {
	c.mu.Lock()
	c.batches[len(reqs)]++
	c.mu.Unlock()
	return c.Client.ExecBatch(ctx, reqs)
}

// Through a pool, plain or pipelined, 32 clients pipelining bursts of
// varied length, round after round, get their replies in order; requests
// read together reach the pool as batches; the strict server sees every
// request once, and no overlapping handshake.
func TestBatchedPipelinesThroughPool(t *testing.T) {
	for _, pipeline := range []int{1, 16} {
		t.Run(fmt.Sprintf("pool.pipeline=%d", pipeline), func(t *testing.T) {
			srv := newServer(t)
			pool := &countingPool{Client: newPool(t, srv, 4, pipeline), batches: make(map[int]int)}
			_, addr := startProxy(t, pool, proxy.Options{MaxPipeline: 32})
			const clients, rounds = 32, 20
			var wg sync.WaitGroup
			total := 0
			var totalMu sync.Mutex
			for c := range clients {
				wg.Go(func() {
					r := login(t, addr)
					var burst bytes.Buffer
					for round := range rounds {
						n := 1 + (c*7+round*5)%40 // beyond MaxPipeline too
						for i := range n {
							burst.Write(testkit.Frame(t, "PING", fmt.Sprintf("c%d-r%d-%d", c, round, i)))
						}
						r.Write(burst.Bytes())
						burst.Reset()
						for i := range n {
							resp, err := r.Recv()
							if err != nil {
								t.Errorf("client %d, round %d, reply %d: %v", c, round, i, err)
								return
							}
							if want := fmt.Sprintf("PONG c%d-r%d-%d", c, round, i); string(resp.GetResult()) != want {
								t.Errorf("client %d, round %d, reply %d: got %q, want %q", c, round, i, resp.GetResult(), want)
								return
							}
						}
						totalMu.Lock()
						total += n
						totalMu.Unlock()
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			if srv.Requests() != uint64(total) || srv.Stranded() != 0 || srv.Overlaps().Handshakes != 0 {
				t.Fatalf("server: %d requests for %d sent, %d stranded, %+v", srv.Requests(), total, srv.Stranded(), srv.Overlaps())
			}
			pool.mu.Lock()
			defer pool.mu.Unlock()
			big := 0
			for size, n := range pool.batches {
				if size > 1 {
					big += n
				}
				if size > 32 {
					t.Errorf("%d batches of %d requests, beyond MaxPipeline", n, size)
				}
			}
			if big == 0 {
				t.Fatalf("no batch of more than one request: %v", pool.batches)
			}
			if st := pool.Stats(); st.Errors != 0 || st.Requests != uint64(total) {
				t.Fatalf("pool: %+v, %d requests sent", st, total)
			}
		})
	}
}

// A client mixing, in one burst, requests the proxy sends on (PING, GET,
// SESSION, SET) with requests it answers itself (AUTH, STR.GET, an
// invalid frame) gets every reply in request order, SESSION's rewritten
// for its own login.
func TestBatchMixedBurstInOrder(t *testing.T) {
	srv := newServer(t)
	_, addr := startProxy(t, newPool(t, srv, 2, 8), proxy.Options{})
	r := login(t, addr)
	type want struct {
		status string
		result string // a prefix for SESSION and the proxy's errors
	}
	var burst bytes.Buffer
	var wants []want
	add := func(w want, command string, args ...string) {
		burst.Write(testkit.Frame(t, command, args...))
		wants = append(wants, w)
	}
	for round := range 3 {
		v := fmt.Sprintf("v%d", round)
		add(want{"Ok", "PONG a"}, "PING", "a")
		add(want{"Ok", "{"}, "SESSION")
		add(want{"Ok", "PONG b"}, "PING", "b")
		add(want{"Error", "ProxyError: AUTH"}, "AUTH", "u", "p")
		add(want{"Ok", "PONG c"}, "PING", "c")
		add(want{"Error", "ProxyError: STR.GET"}, "STR.GET", "k")
		add(want{"Ok", ""}, "SET", "k", v)
		add(want{"Ok", v}, "GET", "k")
		add(want{"Ok", "{"}, "SESSION")
		add(want{"Ok", "PONG d"}, "PING", "d")
	}
	r.Write(burst.Bytes())
	for i, w := range wants {
		resp, err := r.Recv()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if resp.GetStatus() != w.status || !strings.HasPrefix(string(resp.GetResult()), w.result) ||
			(w.result == "" && len(resp.GetResult()) != 0) || (w.status == "Ok" && w.result != "" && w.result[0] != '{' && string(resp.GetResult()) != w.result) {
			t.Fatalf("reply %d: %s %q, want %s %q", i, resp.GetStatus(), resp.GetResult(), w.status, w.result)
		}
		if w.result == "{" {
			var info struct {
				SessionID string `json:"session_id"`
				User      struct{ Username string }
			}
			if err := json.Unmarshal(resp.GetResult(), &info); err != nil || info.User.Username != appUser || info.SessionID != resp.GetClientId() {
				t.Fatalf("reply %d, SESSION: %q (%v), not the app's own login", i, resp.GetResult(), err)
			}
		}
	}
}

// A batching backend given fewer outcomes than requests (a faulty
// BatchBackend) fails the rest with an "Error", in order, and the client
// stays served.
func TestBatchShortOutcomes(t *testing.T) {
	b := &shortBatcher{stub: &stub{}}
	_, addr := startProxy(t, b, proxy.Options{})
	r := login(t, addr)
	var burst bytes.Buffer
	for i := range 6 {
		burst.Write(testkit.Frame(t, "PING", fmt.Sprint(i)))
	}
	r.Write(burst.Bytes())
	ok, failed := 0, 0
	for i := range 6 {
		resp, err := r.Recv()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		switch {
		case resp.GetStatus() == "Ok" && string(resp.GetResult()) == fmt.Sprintf("PONG %d", i) && failed == 0:
			ok++
		case resp.GetStatus() == "Error" && strings.Contains(string(resp.GetResult()), "fewer outcomes"):
			failed++
		default:
			t.Fatalf("reply %d: %s %q", i, resp.GetStatus(), resp.GetResult())
		}
	}
	if ok == 0 && failed == 0 {
		t.Fatal("no reply")
	}
	if resp := r.Call("PING", "after"); string(resp.GetResult()) != "PONG after" {
		t.Fatalf("after a short batch: %v", resp)
	}
}

// shortBatcher returns one outcome fewer than requests for batches of
// more than one.
type shortBatcher struct{ *stub }

func (b *shortBatcher) ExecBatch(ctx context.Context, reqs []fleare.Request) []fleare.Outcome {
	outs := make([]fleare.Outcome, 0, len(reqs))
	for _, r := range reqs {
		var o fleare.Outcome
		o.Reply, o.Err = b.Exec(ctx, r.Command, r.Args...)
		outs = append(outs, o)
	}
	if len(outs) > 1 {
		outs = outs[:len(outs)-1]
	}
	return outs
}

// The MaxInFlight bound holds for batches, counted per request, and
// changes live: a batch waiting for tokens moves to the new bound.
func TestMaxInFlightBatches(t *testing.T) {
	gate := make(chan struct{})
	var inFlight, peak, calls counter
	s := &stub{exec: func(ctx context.Context, _ string, _ []string) (fleare.Reply, error) {
		calls.add(1)
		peak.max(inFlight.add(1))
		defer inFlight.add(-1)
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return fleare.Reply{Status: "Ok", Result: []byte("PONG ")}, nil
	}}
	b := &batchStub{stub: s}
	p, addr := startProxy(t, b, proxy.Options{MaxInFlight: 5})
	clients := make([]*testkit.Raw, 6)
	for i := range clients {
		clients[i] = login(t, addr)
		clients[i].Write(bytes.Repeat(testkit.Frame(t, "PING"), 4))
	}
	waitFor(t, "requests in flight", func() bool { return calls.get() >= 4 })
	if got := peak.get(); got > 5 {
		t.Fatalf("peak in flight = %d, beyond MaxInFlight 5", got)
	}
	if err := p.Update(proxy.Options{Users: appUsers, MaxInFlight: 9}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "requests in flight under the new bound", func() bool { return calls.get() >= 10 })
	close(gate)
	for _, r := range clients {
		for range 4 {
			if resp := r.Next(); resp.GetStatus() != "Ok" {
				t.Fatalf("reply: %v", resp)
			}
		}
	}
	if got := peak.get(); got > 5+9 {
		t.Fatalf("peak in flight = %d, want at most 5 + 9 (the old tokens drain into the old bound)", got)
	}
	if b.largest() < 2 {
		t.Fatalf("no batch: largest %d", b.largest())
	}
}

// SUBSCRIBE and UNSUBSCRIBE pipelined among read-only requests keep their
// place: the requests before them are answered first, those after once
// the subscription is in place (or gone), every reply in order.
func TestBatchSubscribeInBurst(t *testing.T) {
	srv := newServer(t)
	p, addr := startProxy(t, newPool(t, srv, 2, 8), proxy.Options{Dial: dialer(srv)})
	sub := login(t, addr)
	var burst bytes.Buffer
	for _, f := range [][]string{{"PING", "a"}, {"PING", "b"}, {"SUBSCRIBE", "news"}, {"PING", "c"}, {"GET", "k"}, {"PING", "d"}} {
		burst.Write(testkit.Frame(t, f[0], f[1:]...))
	}
	sub.Write(burst.Bytes())
	for _, want := range []string{"PONG a", "PONG b", "PONG c", "", "PONG d"} {
		if resp := sub.Next(); resp.GetTopic() != "" || string(resp.GetResult()) != want {
			t.Fatalf("reply %v, want %q", resp, want)
		}
	}
	if srv.Subscribers("news") != 1 || p.Stats().Subscribers != 1 {
		t.Fatal("the pipelined SUBSCRIBE did not subscribe")
	}
	burst.Reset()
	for _, f := range [][]string{{"PING", "e"}, {"UNSUBSCRIBE", "news"}, {"PING", "f"}, {"PING", "g"}} {
		burst.Write(testkit.Frame(t, f[0], f[1:]...))
	}
	sub.Write(burst.Bytes())
	for _, want := range []string{"PONG e", "PONG f", "PONG g"} {
		if resp := sub.Next(); resp.GetTopic() != "" || string(resp.GetResult()) != want {
			t.Fatalf("reply %v, want %q", resp, want)
		}
	}
	waitFor(t, "the subscription released", func() bool { return p.Stats().Subscribers == 0 && srv.Subscribers("news") == 0 })
}
