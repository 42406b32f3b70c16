package proxy_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// pipelineClients has n raw clients each write reqs PINGs in one go, then
// read the replies, which must come back in request order.
func pipelineClients(t *testing.T, addr string, n, reqs int) {
	t.Helper()
	clients := make([]*testkit.Raw, n)
	for i := range clients {
		clients[i] = login(t, addr)
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i, r := range clients {
		wg.Go(func() {
			var batch bytes.Buffer
			for j := range reqs {
				batch.Write(testkit.Frame(t, "PING", fmt.Sprintf("c%d-%d", i, j)))
			}
			if _, err := r.Conn().Write(batch.Bytes()); err != nil {
				errs <- err
				return
			}
			for j := range reqs {
				resp, err := r.Recv()
				if err != nil {
					errs <- fmt.Errorf("client %d, reply %d: %w", i, j, err)
					return
				}
				if want := fmt.Sprintf("PONG c%d-%d", i, j); string(resp.GetResult()) != want {
					errs <- fmt.Errorf("client %d, reply %d: got %q, want %q", i, j, resp.GetResult(), want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Pipelined requests of 32 interleaving clients are answered in each
// client's request order, though the backend completes them out of order,
// and no client has more than MaxPipeline requests in flight.
func TestPipelinedRepliesInOrder(t *testing.T) { forBackends(t, testPipelinedRepliesInOrder) }

func testPipelinedRepliesInOrder(t *testing.T, wrap func(*stub) proxy.Backend) {
	const maxPipeline = 8
	var (
		mu       sync.Mutex
		inFlight = make(map[string]int)
		peak     int
	)
	b := &stub{exec: func(_ context.Context, _ string, args []string) (fleare.Reply, error) {
		client, _, _ := strings.Cut(args[0], "-")
		mu.Lock()
		inFlight[client]++
		peak = max(peak, inFlight[client])
		mu.Unlock()
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond) // completes out of order
		mu.Lock()
		inFlight[client]--
		mu.Unlock()
		return fleare.Reply{Status: "Ok", Result: []byte("PONG " + args[0]), ClientID: "1-x"}, nil
	}}
	p, addr := startProxy(t, wrap(b), proxy.Options{MaxPipeline: maxPipeline})
	pipelineClients(t, addr, 32, 200)
	mu.Lock()
	defer mu.Unlock()
	if peak > maxPipeline || peak < 2 {
		t.Fatalf("peak requests in flight for one client = %d, want 2..%d", peak, maxPipeline)
	}
	if st := p.Stats(); st.Requests != 32*200 || st.Errors != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// The same against a strict server behind a pool of 4 connections that
// lets few callers wait (MaxQueue 8, where 32 clients pipeline 100
// requests each): with MaxInFlight at what the connections hold, requests
// wait in the proxy, none is refused, no connection is added and nothing
// is stranded.
func TestPipelinedThroughPool(t *testing.T) {
	for _, pipeline := range []int{1, 16} {
		t.Run(fmt.Sprintf("pool.pipeline=%d", pipeline), func(t *testing.T) {
			srv := newServer(t)
			o := serverOptions(4, pipeline)
			o.MaxQueue = 8
			pool := fleare.NewClient(srv.Host(), srv.Port(), o)
			t.Cleanup(func() { _ = pool.Close(context.Background()) })
			if err := pool.Connect(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			_, addr := startProxy(t, pool, proxy.Options{MaxInFlight: 4 * max(1, pipeline)})
			pipelineClients(t, addr, 32, 100)
			if srv.Accepted() != 4 || srv.Stranded() != 0 || srv.Requests() != 32*100 {
				t.Fatalf("server: %d accepted, %d stranded, %d requests", srv.Accepted(), srv.Stranded(), srv.Requests())
			}
			if st := pool.Stats(); st.QueueFull != 0 || st.Errors != 0 {
				t.Fatalf("pool: %+v", st)
			}
		})
	}
}

// A client's pipelined requests take effect in the order it sent them,
// as on one connection to the server, though the backend's latency varies:
// each GET sees the SET just before it, and reads in a row still overlap.
func TestPipelinedRequestsRunInOrder(t *testing.T) { forBackends(t, testPipelinedRequestsRunInOrder) }

func testPipelinedRequestsRunInOrder(t *testing.T, wrap func(*stub) proxy.Backend) {
	var (
		mu         sync.Mutex
		kv         = make(map[string]string)
		gets, peak int
	)
	b := &stub{exec: func(_ context.Context, command string, args []string) (fleare.Reply, error) {
		if command == "GET" {
			mu.Lock()
			gets++
			peak = max(peak, gets)
			mu.Unlock()
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		mu.Lock()
		defer mu.Unlock()
		switch command {
		case "SET":
			kv[args[0]] = args[1]
			return fleare.Reply{Status: "Ok"}, nil
		case "GET":
			gets--
			return fleare.Reply{Status: "Ok", Result: []byte(kv[args[0]])}, nil
		}
		return fleare.Reply{Status: "Error", Result: []byte("unexpected\n")}, nil
	}}
	_, addr := startProxy(t, wrap(b), proxy.Options{})
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			r := login(t, addr)
			key := fmt.Sprintf("k%d", c)
			var batch bytes.Buffer
			for i := range 100 {
				batch.Write(testkit.Frame(t, "SET", key, fmt.Sprint(i)))
				for range 3 {
					batch.Write(testkit.Frame(t, "GET", key))
				}
			}
			r.Write(batch.Bytes())
			for i := range 100 {
				if resp := r.Next(); resp.GetStatus() != "Ok" {
					t.Errorf("SET %d: %v", i, resp)
					return
				}
				for range 3 {
					if resp := r.Next(); string(resp.GetResult()) != fmt.Sprint(i) {
						t.Errorf("GET after SET %s %d = %q", key, i, resp.GetResult())
						return
					}
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if peak < 2 {
		t.Errorf("consecutive GETs never overlapped (peak %d)", peak)
	}
}

// A client that mixes lone requests (answered inline by the reader) with
// bursts (queued and run by workers) sees every reply in request order,
// and each request sees the effect of the ones before it, whichever way
// each was run: a GET always returns the value of the last SET before it.
func TestLoneAndPipelinedRequestsInOrder(t *testing.T) {
	forBackends(t, testLoneAndPipelinedRequestsInOrder)
}

func testLoneAndPipelinedRequestsInOrder(t *testing.T, wrap func(*stub) proxy.Backend) {
	var (
		mu sync.Mutex
		kv = make(map[string]string)
	)
	b := &stub{exec: func(_ context.Context, command string, args []string) (fleare.Reply, error) {
		time.Sleep(time.Duration(rand.IntN(150)) * time.Microsecond) // completes out of order
		mu.Lock()
		defer mu.Unlock()
		switch command {
		case "SET":
			kv[args[0]] = args[1]
			return fleare.Reply{Status: "Ok"}, nil
		case "GET":
			return fleare.Reply{Status: "Ok", Result: []byte(kv[args[0]])}, nil
		}
		return fleare.Reply{Status: "Ok", Result: []byte("PONG " + args[0]), ClientID: "1-x"}, nil
	}}
	p, addr := startProxy(t, wrap(b), proxy.Options{})
	const clients, rounds = 8, 150
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			r := login(t, addr)
			key := fmt.Sprintf("k%d", c)
			var (
				want  []string // the replies owed, in order
				value string   // the key's, "" until the first SET
				batch bytes.Buffer
			)
			for round := range rounds {
				// A burst of 1 to 4 requests: SET, GET or PING.
				for i := range 1 + rand.IntN(4) {
					switch rand.IntN(3) {
					case 0:
						value = fmt.Sprintf("v%d-%d", round, i)
						batch.Write(testkit.Frame(t, "SET", key, value))
						want = append(want, "")
					case 1:
						batch.Write(testkit.Frame(t, "GET", key))
						want = append(want, value)
					default:
						tag := fmt.Sprintf("p%d-%d", round, i)
						batch.Write(testkit.Frame(t, "PING", tag))
						want = append(want, "PONG "+tag)
					}
				}
				r.Write(batch.Bytes())
				batch.Reset()
				// Read the replies now (the next burst may then be run
				// inline) or leave them owed (it is then queued).
				if rand.IntN(2) == 0 && round != rounds-1 {
					continue
				}
				for i, w := range want {
					resp, err := r.Recv()
					if err != nil {
						t.Errorf("client %d, round %d, reply %d: %v", c, round, i, err)
						return
					}
					if resp.GetStatus() != "Ok" || string(resp.GetResult()) != w {
						t.Errorf("client %d, round %d, reply %d: %s %q, want Ok %q", c, round, i, resp.GetStatus(), resp.GetResult(), w)
						return
					}
				}
				want = want[:0]
			}
		})
	}
	wg.Wait()
	if st := p.Stats(); st.Errors != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// fixedBackend answers every request with the same reply, allocating
// nothing.
type fixedBackend struct{ reply fleare.Reply }

func (f *fixedBackend) Exec(context.Context, string, ...string) (fleare.Reply, error) {
	return f.reply, nil
}

// A client that waits for each reply has its requests answered by the
// reader itself: no worker goroutine, call record or hand-off to the
// writer, which would cost at least three allocations per request. The
// whole round trip of a PING, client included, allocates nothing.
func TestLoneRequestAllocations(t *testing.T) {
	b := &fixedBackend{reply: fleare.Reply{Status: "Ok", Result: []byte("PONG"), ClientID: "1-x"}}
	_, addr := startProxy(t, b, proxy.Options{})
	r := login(t, addr)
	ping := testkit.Frame(t, "PING")
	reply := make([]byte, 256)
	roundTrip := func() {
		if _, err := r.Conn().Write(ping); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r.Reader(), reply[:4]); err != nil {
			t.Fatal(err)
		}
		n := int(binary.BigEndian.Uint32(reply))
		if _, err := io.ReadFull(r.Reader(), reply[:n]); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // the session's buffers are allocated on first use
	if allocs := testing.AllocsPerRun(200, roundTrip); allocs > 0.5 {
		t.Fatalf("%v allocations per lone PING, want 0", allocs)
	}
}
