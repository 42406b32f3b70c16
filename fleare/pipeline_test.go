package fleare_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// pipelined returns options for a pipelined pool.
func pipelined(size, depth int) fleare.Options {
	o := fastOptions(size)
	o.Pipeline = depth
	return o
}

// echo sends PING word and checks the reply is this request's own.
func echo(ctx context.Context, c *fleare.Client, word string) error {
	res, err := c.Do(ctx, "PING", word)
	if err != nil {
		return err
	}
	if string(res) != "PONG "+word {
		return fmt.Errorf("PING %s got %q: another request's reply", word, res)
	}
	return nil
}

// inFlight starts n PINGs and waits until all are on the wire; their
// errors arrive on the returned channel.
func inFlight(t *testing.T, ctx context.Context, c *fleare.Client, n int, prefix string) <-chan error {
	t.Helper()
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- echo(ctx, c, fmt.Sprintf("%s-%d", prefix, i)) }()
	}
	waitStats(t, c, fmt.Sprintf("%d requests in flight", n), func(s fleare.Stats) bool { return s.InFlight >= n })
	return errs
}

// Every caller gets its own reply, whatever the interleaving.
func TestPipelineOrdering(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, pipelined(3, 16))
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := range 50 {
				if err := echo(ctx, c, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s := c.Stats()
	if s.Requests != 64*50 || s.Errors != 0 || s.Open != 3 || srv.Conns() != 3 || s.InFlight != 0 || s.Idle != 3 {
		t.Fatalf("after the run: %+v, server conns %d", s, srv.Conns())
	}
}

// Requests share a connection, up to Pipeline at a time; one more waits.
func TestPipelineSharesConnectionsUpToDepth(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	o := pipelined(1, 4)
	o.MaxQueue = -1 // nobody may wait: a fifth concurrent request fails at once
	c := connect(t, srv, o)
	ctx := testCtx(t)
	srv.SetLatency(100 * time.Millisecond)
	errs := inFlight(t, ctx, c, 4, "held")
	if s := c.Stats(); s.Open != 1 || s.InUse != 1 || s.Idle != 0 || s.InFlight != 4 {
		t.Fatalf("4 requests on 1 connection: %+v", s)
	}
	if err := c.Ping(ctx); !errors.Is(err, fleare.ErrQueueFull) {
		t.Fatalf("fifth request: %v, want ErrQueueFull", err)
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// A request whose deadline passes gets its timeout alone: the requests
// pipelined ahead of it, with later deadlines, get their replies; the
// connection is retired (counted as closed on a timeout) and replaced, and
// no late reply reaches a later request.
func TestPipelineTimeoutRetiresConnection(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	events := newEventLog()
	o := pipelined(1, 8)
	o.OnEvent = events.record
	c := connect(t, srv, o)
	ctx := testCtx(t)
	srv.SetLatency(300 * time.Millisecond)
	others := inFlight(t, ctx, c, 3, "behind")

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := c.Do(short, "PING", "short")
	var te *fleare.TimeoutError
	if !errors.As(err, &te) || !te.Sent || fleare.SafeToRetry(err) {
		t.Fatalf("request past its deadline: %v, want a TimeoutError with Sent", err)
	}
	for range 3 {
		if err := <-others; err != nil {
			t.Fatalf("request sharing the timed-out connection, with a later deadline: %v, want its reply", err)
		}
	}
	srv.SetLatency(0)
	events.waitFor(t, "the connection replaced", func([]fleare.Event) bool { return c.Stats().Replaced == 1 })
	for i := range 20 {
		if err := echo(ctx, c, fmt.Sprintf("after-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.ClosedTimeout != 1 || s.ClosedBroken != 0 || s.Open != 1 {
		t.Fatalf("stats: %+v", s)
	}
}

// A canceled request returns at once; its reply is discarded and the
// connection stays up for the others.
func TestPipelineCancelKeepsConnection(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, pipelined(1, 8))
	ctx := testCtx(t)
	srv.SetLatency(100 * time.Millisecond)
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithCancel(ctx)
		canceled := make(chan error, 1)
		go func() { canceled <- echo(cctx, c, "canceled") }()
		waitStats(t, c, "the request in flight", func(s fleare.Stats) bool { return s.InFlight == 1 })
		others := inFlight(t, ctx, c, 3, "kept")
		cancel()
		err := <-canceled
		for range 3 {
			if err := <-others; err != nil {
				t.Fatal(err)
			}
		}
		if err == nil && attempt < 5 {
			continue // the reply came before the cancel on a slow machine: again
		}
		if !errors.Is(err, context.Canceled) || errors.Is(err, fleare.ErrBroken) || fleare.SafeToRetry(err) {
			t.Fatalf("canceled request: %v", err)
		}
		break
	}
	srv.SetLatency(0)
	for i := range 10 {
		if err := echo(ctx, c, fmt.Sprintf("next-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.Open != 1 || s.ClosedCanceled != 0 || s.DialAttempts != 1 || srv.Accepted() != 1 || s.Abandoned == 0 {
		t.Fatalf("the connection did not survive the cancel: %+v", s)
	}
}

// A connection the server drops fails the requests it sent and is
// replaced; requests queued on it and not yet written go to another
// connection.
func TestPipelineBrokenConnection(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, pipelined(2, 8))
	ctx := testCtx(t)
	srv.SetLatency(time.Second)
	errs := inFlight(t, ctx, c, 6, "dropped")
	srv.CloseClientConnections()
	srv.SetLatency(0)
	broken := 0
	for range 6 {
		switch err := <-errs; {
		case errors.Is(err, fleare.ErrBroken) && !fleare.SafeToRetry(err):
			broken++ // sent on the dropped connection
		case err != nil:
			t.Fatalf("request on a dropped connection: %v, want ErrBroken (sent) or success (moved)", err)
		}
	}
	if broken == 0 {
		t.Fatal("no request failed: the first one was written before the drop")
	}
	waitStats(t, c, "both connections replaced", func(s fleare.Stats) bool { return s.Replaced == 2 && s.Open == 2 })
	if err := echo(ctx, c, "again"); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.ClosedBroken != 2 {
		t.Fatalf("stats: %+v", s)
	}
}

// Close lets requests in flight finish within its context...
func TestPipelineCloseDrains(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := fleare.NewClient(srv.Host(), srv.Port(), pipelined(2, 8))
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	srv.SetLatency(50 * time.Millisecond)
	errs := inFlight(t, ctx, c, 10, "drained")
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Ping(ctx); !errors.Is(err, fleare.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if s := c.Stats(); s.Open != 0 || s.ClosedShutdown != 2 {
		t.Fatalf("stats: %+v", s)
	}
}

// ...and closes them under their callers when it ends.
func TestPipelineCloseForced(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := fleare.NewClient(srv.Host(), srv.Port(), pipelined(2, 8))
	ctx := testCtx(t)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	srv.SetLatency(5 * time.Second)
	errs := inFlight(t, ctx, c, 10, "forced")
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	var ce *fleare.CloseError
	if err := c.Close(short); !errors.As(err, &ce) || ce.Forced != 2 {
		t.Fatalf("Close: %v, want a CloseError with 2 forced", err)
	}
	broken := 0
	for range 10 {
		switch err := <-errs; {
		case errors.Is(err, fleare.ErrBroken):
			broken++ // sent, and cut off
		case !errors.Is(err, fleare.ErrClosed):
			t.Fatalf("request cut off by Close: %v, want ErrBroken (sent) or ErrClosed (queued, unsent)", err)
		}
	}
	if broken == 0 {
		t.Fatal("no request was cut off: the first ones were written before Close")
	}
}

// Shrinking retires connections without failing the requests on them.
func TestPipelineResize(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, pipelined(4, 8))
	ctx := testCtx(t)
	srv.SetLatency(50 * time.Millisecond)
	errs := inFlight(t, ctx, c, 16, "resized")
	if err := c.Resize(1); err != nil {
		t.Fatal(err)
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	srv.SetLatency(0)
	waitStats(t, c, "the pool shrunk", func(s fleare.Stats) bool { return s.Open == 1 })
	if err := srv.WaitConns(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Resize(3); err != nil {
		t.Fatal(err)
	}
	waitStats(t, c, "the pool grown", func(s fleare.Stats) bool { return s.Open == 3 })
	for i := range 30 {
		if err := echo(ctx, c, fmt.Sprintf("grown-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.ClosedResize != 3 || s.Errors != 0 {
		t.Fatalf("stats: %+v", s)
	}
}

// An "Error" reply is the caller's alone; the connection stays.
func TestPipelineServerError(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, pipelined(1, 8))
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if i%2 == 0 {
				var se *fleare.ServerError
				if _, err := c.Do(ctx, "SET", "only-key"); !errors.As(err, &se) || se.Command != "SET" {
					t.Errorf("bad SET: %v", err)
				}
				return
			}
			if err := echo(ctx, c, fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if s := c.Stats(); s.ServerErrors != 10 || s.Errors != 0 || s.DialAttempts != 1 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestPipelineOptions(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	o := fastOptions(1)
	o.Pipeline = -1
	if err := fleare.NewClient(srv.Host(), srv.Port(), o).Connect(testCtx(t)); err == nil {
		t.Fatal("a negative Pipeline was accepted")
	}

	plain := connect(t, srv, plainOptions(1))
	if err := plain.Update(pipelined(1, 8)); !errors.Is(err, fleare.ErrNotInPlace) {
		t.Fatalf("turning pipelining on in place: %v", err)
	}
	if err := plain.Update(fastOptions(1)); !errors.Is(err, fleare.ErrNotInPlace) {
		t.Fatalf("turning pipelining on in place, by the default: %v", err)
	}
	c := connect(t, srv, pipelined(1, 2))
	if err := c.Update(plainOptions(1)); !errors.Is(err, fleare.ErrNotInPlace) {
		t.Fatalf("turning pipelining off in place: %v", err)
	}
	// Pipelining is on by default: 0 is DefaultPipeline, a depth above 1,
	// which a pipelined Client takes in place.
	def := connect(t, srv, fastOptions(1))
	if err := def.Update(plainOptions(1)); !errors.Is(err, fleare.ErrNotInPlace) {
		t.Fatalf("turning the default pipelining off in place: %v", err)
	}
	if err := def.Update(pipelined(1, 8)); err != nil {
		t.Fatalf("changing the default depth in place: %v", err)
	}

	// A deeper pipeline takes effect at once, for callers already waiting.
	srv.SetLatency(100 * time.Millisecond)
	ctx := testCtx(t)
	errs := inFlight(t, ctx, c, 2, "first")
	waiting := make(chan error, 1)
	go func() { waiting <- echo(ctx, c, "waiting") }()
	waitStats(t, c, "a caller waiting", func(s fleare.Stats) bool { return s.Waiting == 1 })
	if err := c.Update(pipelined(1, 3)); err != nil {
		t.Fatal(err)
	}
	waitStats(t, c, "the waiter on the wire", func(s fleare.Stats) bool { return s.Waiting == 0 && s.InFlight == 3 })
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
}

// A canceled request keeps its slot until its reply comes, so the bound on
// requests per connection holds; and its deadline still closes a
// connection whose server never answers.
func TestPipelineAbandonedRequest(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	o := pipelined(1, 2)
	o.MaxQueue = -1
	o.RequestTimeout = 300 * time.Millisecond
	c := connect(t, srv, o)
	ctx := testCtx(t)
	srv.SetLatency(time.Hour)
	cctx, cancel := context.WithCancel(ctx)
	canceled := make(chan error, 1)
	go func() { canceled <- echo(cctx, c, "abandoned") }()
	waitStats(t, c, "the request in flight", func(s fleare.Stats) bool { return s.InFlight == 1 })
	cancel()
	if err := <-canceled; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled request: %v", err)
	}
	if s := c.Stats(); s.InFlight != 1 || s.Open != 1 {
		t.Fatalf("the abandoned request gave its slot back early: %+v", s)
	}
	other := make(chan error, 1)
	go func() { other <- echo(ctx, c, "second") }()
	waitStats(t, c, "both slots taken", func(s fleare.Stats) bool { return s.InFlight == 2 })
	if err := c.Ping(ctx); !errors.Is(err, fleare.ErrQueueFull) {
		t.Fatalf("third request with both slots taken: %v, want ErrQueueFull", err)
	}
	// The server never answers: the deadlines close the connection.
	if err := <-other; !errors.Is(err, fleare.ErrTimeout) && !errors.Is(err, fleare.ErrBroken) {
		t.Fatalf("request on a stuck server: %v", err)
	}
	waitStats(t, c, "the stuck connection closed", func(s fleare.Stats) bool { return s.ClosedTimeout == 1 && s.InFlight == 0 })
	srv.SetLatency(0)
	waitStats(t, c, "a new connection", func(s fleare.Stats) bool { return s.Open == 1 && s.Replaced == 1 })
	if err := echo(ctx, c, "fresh"); err != nil {
		t.Fatal(err)
	}
}

// A reply nobody asked for, or an invalid frame, breaks the connection,
// which is replaced. The stray comes in the same write as the reply, so
// the reader sees it with the reply (net.Pipe cannot be looked at while
// idle; on a socket, a stray arriving later is found by the look before
// the next request or by the health check: TestStrayOnIdlePipelineDetected).
func TestPipelineInvalidReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(t *testing.T) [][]byte
		stat  func(fleare.Stats) uint64
	}{
		{"stray reply", func(t *testing.T) [][]byte {
			return [][]byte{append(respFrame(t, "Ok", "PONG "), respFrame(t, "Ok", "PONG ")...)}
		}, func(s fleare.Stats) uint64 { return s.ClosedStray }},
		{"zero-length frame", func(*testing.T) [][]byte { return [][]byte{{0, 0, 0, 0}} },
			func(s fleare.Stats) uint64 { return s.ClosedBroken }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := fakeServer(t, func(n int, _ *wire.Command) [][]byte {
				if n == 0 {
					return [][]byte{respFrame(t, "Ok", "Connected")}
				}
				return tc.reply(t)
			})
			o.Pipeline = 4
			o.RetryInterval = time.Hour // keep the one dial
			c := fleare.NewClient(fakeHost, 1, o)
			ctx := testCtx(t)
			if err := c.Connect(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			_, _ = c.Do(ctx, "PING")
			waitStats(t, c, "the connection closed", func(s fleare.Stats) bool { return tc.stat(s) == 1 })
		})
	}
}

// A slow request whose short deadline passes fails alone, as a timeout,
// while the requests pipelined behind it on the same connection, with
// later deadlines, get their replies from that connection (the server
// answers in order: they are delayed as much as the slow one). The
// connection takes no new request after the timeout: the next one goes to
// its replacement, dialed through the gate while the old one finishes; on
// a strict server no handshake is stranded.
func TestPipelineTimeoutSparesRequestsBehind(t *testing.T) {
	for attempt := 1; ; attempt++ {
		if timeoutSparesRequestsBehind(t) || attempt == 5 {
			return // done, or failed
		}
		// The requests behind were not all queued before the slow one's
		// deadline on a slow machine: again.
	}
}

// timeoutSparesRequestsBehind runs one attempt of the test above, and
// reports false, checking nothing, if the requests behind were not all in
// flight before the slow one's deadline passed.
func timeoutSparesRequestsBehind(t *testing.T) (ran bool) {
	t.Helper()
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
	c := connect(t, srv, pipelined(1, 8))
	ctx := testCtx(t)
	first, err := c.Exec(ctx, "PING", "first")
	if err != nil {
		t.Fatal(err)
	}
	old := first.ClientID
	srv.SetLatency(2 * time.Second)

	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	slow := make(chan error, 1)
	go func() { _, err := c.Exec(short, "PING", "slow"); slow <- err }()
	waitStats(t, c, "the slow request in flight", func(s fleare.Stats) bool { return s.InFlight == 1 })
	type answer struct {
		word string
		res  fleare.Reply
		err  error
	}
	behind := make(chan answer, 3)
	for i := range 3 {
		word := fmt.Sprintf("behind-%d", i)
		go func() { res, err := c.Exec(ctx, "PING", word); behind <- answer{word, res, err} }()
	}
	waitStats(t, c, "the requests behind in flight", func(s fleare.Stats) bool { return s.InFlight == 4 })
	select {
	case err := <-slow:
		srv.SetLatency(0)
		for range 3 {
			<-behind
		}
		t.Logf("the slow request ended (%v) before the ones behind were queued: again", err)
		return false
	default:
	}

	err = <-slow
	srv.SetLatency(0)
	var te *fleare.TimeoutError
	if !errors.As(err, &te) || !te.Sent || errors.Is(err, fleare.ErrBroken) {
		t.Fatalf("slow request past its deadline: %v, want a TimeoutError with Sent", err)
	}
	after, err := c.Exec(ctx, "PING", "after")
	if err != nil {
		t.Fatal(err)
	}
	if after.ClientID == old || string(after.Result) != "PONG after" {
		t.Fatalf("request after the timeout: %q on %s, want its own reply from a new connection (the old one is %s)", after.Result, after.ClientID, old)
	}
	for range 3 {
		a := <-behind
		if a.err != nil {
			t.Fatalf("%s, pipelined behind the timed-out request: %v, want its reply", a.word, a.err)
		}
		if string(a.res.Result) != "PONG "+a.word || a.res.ClientID != old {
			t.Fatalf("%s got %q from %s, want its own reply from the connection it was sent on (%s)", a.word, a.res.Result, a.res.ClientID, old)
		}
	}
	if err := srv.Wait(ctx, func() bool { return srv.Conns() == 1 }); err != nil {
		t.Fatalf("the retired connection never closed: %v", err)
	}
	waitStats(t, c, "the retired connection gone", func(s fleare.Stats) bool { return s.InFlight == 0 })
	if s := c.Stats(); s.ClosedTimeout != 1 || s.ClosedBroken != 0 || s.Open != 1 || s.Replaced != 1 || s.Abandoned != 0 {
		t.Fatalf("stats: %+v", s)
	}
	if o := srv.Overlaps(); srv.Stranded() != 0 || srv.Wedged() || o.DisconnectsDuringHandshake != 0 {
		t.Fatalf("a handshake overlapped: %d stranded, wedged %v, overlaps %+v", srv.Stranded(), srv.Wedged(), o)
	}
	return true
}

// Reconnect retires a pipelined connection with requests in flight: each
// gets its own reply from the connection it was sent on, the next request
// goes to the replacement, and the old connection is closed after its last
// reply, through the gate (a strict server sees no overlap).
func TestPipelineReconnectBusyConnection(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
	o := pipelined(1, 8)
	o.CloseSpacing = wideSpacing
	c := connect(t, srv, o)
	ctx := testCtx(t)
	first, err := c.Exec(ctx, "PING", "first")
	if err != nil {
		t.Fatal(err)
	}
	old := first.ClientID
	srv.SetLatency(300 * time.Millisecond)
	type answer struct {
		word string
		res  fleare.Reply
		err  error
	}
	busy := make(chan answer, 4)
	for i := range 4 {
		word := fmt.Sprintf("busy-%d", i)
		go func() { res, err := c.Exec(ctx, "PING", word); busy <- answer{word, res, err} }()
	}
	waitStats(t, c, "4 requests in flight", func(s fleare.Stats) bool { return s.InFlight == 4 })
	if err := c.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	srv.SetLatency(0)
	after, err := c.Exec(ctx, "PING", "after")
	if err != nil {
		t.Fatal(err)
	}
	if after.ClientID == old || string(after.Result) != "PONG after" {
		t.Fatalf("request after Reconnect: %q on %s, want its own reply from a new connection (the old one is %s)", after.Result, after.ClientID, old)
	}
	for range 4 {
		a := <-busy
		if a.err != nil {
			t.Fatalf("%s, in flight on the replaced connection: %v, want its reply", a.word, a.err)
		}
		if string(a.res.Result) != "PONG "+a.word || a.res.ClientID != old {
			t.Fatalf("%s got %q from %s, want its own reply from the connection it was sent on (%s)", a.word, a.res.Result, a.res.ClientID, old)
		}
	}
	if err := srv.WaitConns(ctx, 1); err != nil {
		t.Fatalf("the replaced connection never closed: %v", err)
	}
	if s := c.Stats(); s.ClosedReconnect != 1 || s.ClosedTimeout != 0 || s.ClosedBroken != 0 || s.Open != 1 || s.Errors != 0 {
		t.Fatalf("stats: %+v", s)
	}
	if got := srv.Accepted(); got != 2 {
		t.Fatalf("server accepted %d connections, want 2", got)
	}
	checkSafe(t, srv)
}

// A pipelined connection Reconnect retired whose replies do not come in
// time is closed when the last deadline of its requests passes: they fail
// with timeouts, the connection is counted once (reconnect), and Reconnect
// does not wait for it. (The test server notices the close only once its
// 3s delay has passed; had the client not closed the connection, the
// late replies would keep it open.)
func TestPipelineReconnectReplyNeverComes(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
	o := pipelined(1, 8)
	o.CloseSpacing = wideSpacing
	o.RequestTimeout = 1500 * time.Millisecond // ample for the reconnect's one dial
	c := connect(t, srv, o)
	ctx := testCtx(t)
	srv.SetLatency(3 * time.Second)
	stuck := make(chan error, 2)
	for i := range 2 {
		go func() { stuck <- echo(ctx, c, fmt.Sprintf("stuck-%d", i)) }()
	}
	waitStats(t, c, "2 requests in flight", func(s fleare.Stats) bool { return s.InFlight == 2 })
	if err := c.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var te *fleare.TimeoutError
		if err := <-stuck; !errors.As(err, &te) {
			t.Fatalf("request whose reply did not come in time: %v, want a TimeoutError", err)
		}
	}
	if err := srv.WaitConns(ctx, 1); err != nil {
		t.Fatalf("the retired connection never closed: %v", err)
	}
	if s := c.Stats(); s.ClosedReconnect != 1 || s.ClosedTimeout != 0 || s.ClosedBroken != 0 || s.Open != 1 || s.Errors != 2 || s.InFlight != 0 {
		t.Fatalf("stats: %+v", s)
	}
	checkSafe(t, srv)
}

// Callers waiting behind the reader, with no deadline in their context,
// end at the request timeout through the connection's one watch timer:
// even one whose deadline comes before those queued ahead of it (the
// timeout shortened by Update meanwhile). The ones ahead keep waiting.
func TestPipelineWaitersEndAtRequestTimeout(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	o := pipelined(1, 8)
	o.RequestTimeout = time.Hour
	c := connect(t, srv, o)
	ctx := testCtx(t)
	srv.SetLatency(time.Hour)
	ahead := make(chan error, 2)
	for i := range 2 {
		go func() { _, err := c.Exec(context.Background(), "PING"); ahead <- err }()
		waitStats(t, c, "requests ahead in flight", func(s fleare.Stats) bool { return s.InFlight == i+1 })
	}
	o.RequestTimeout = 200 * time.Millisecond
	if err := c.Update(o); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"no Done channel", "a Done channel"} {
		late := make(chan error, 1)
		go func() {
			rctx := context.Background()
			if name == "a Done channel" {
				var cancel context.CancelFunc
				rctx, cancel = context.WithCancel(rctx)
				defer cancel()
			}
			_, err := c.Exec(rctx, "PING", "late")
			late <- err
		}()
		select {
		case err := <-late:
			var te *fleare.TimeoutError
			if !errors.As(err, &te) {
				t.Fatalf("%s: %v, want a *TimeoutError", name, err)
			}
		case <-ctx.Done():
			t.Fatalf("%s: a waiting request outlived its request timeout", name)
		}
		if name == "no Done channel" {
			// The first timeout retired the connection; its replacement
			// takes the next request, behind a new request ahead.
			o.RequestTimeout = time.Hour
			if err := c.Update(o); err != nil {
				t.Fatal(err)
			}
			waitStats(t, c, "the replacement open", func(s fleare.Stats) bool { return s.Open == 1 && s.InFlight == 0 })
			go func() { _, err := c.Exec(context.Background(), "PING"); ahead <- err }()
			waitStats(t, c, "a request ahead on the replacement", func(s fleare.Stats) bool { return s.InFlight == 1 })
			go func() { _, err := c.Exec(context.Background(), "PING"); ahead <- err }()
			waitStats(t, c, "two requests ahead on the replacement", func(s fleare.Stats) bool { return s.InFlight == 2 })
			o.RequestTimeout = 200 * time.Millisecond
			if err := c.Update(o); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case err := <-ahead:
		t.Fatalf("a request ahead ended: %v", err)
	default:
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	_ = c.Close(ended)
	for range 4 {
		// Sent and cut off, or queued unsent and finding the client closed.
		if err := <-ahead; !errors.Is(err, fleare.ErrBroken) && !errors.Is(err, fleare.ErrClosed) {
			t.Fatalf("request ahead cut off by Close: %v, want ErrBroken or ErrClosed", err)
		}
	}
}
