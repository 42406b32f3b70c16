package fleare_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// batchModes are the pool modes a batch test runs in: plain (one request
// per connection at a time) and pipelined.
var batchModes = []struct {
	name  string
	depth int
}{{"plain", 1}, {"pipelined", 16}}

func modeOptions(size, depth int) fleare.Options {
	if depth > 1 {
		return pipelined(size, depth)
	}
	return plainOptions(size)
}

// echoBatch returns n PING requests whose replies name prefix and their
// position.
func echoBatch(prefix string, n int) []fleare.Request {
	reqs := make([]fleare.Request, n)
	for i := range reqs {
		reqs[i] = fleare.Request{Command: "PING", Args: []string{fmt.Sprintf("%s-%d", prefix, i)}}
	}
	return reqs
}

// checkEchoes checks that each outcome is its own request's reply.
func checkEchoes(reqs []fleare.Request, outs []fleare.Outcome) error {
	if len(outs) != len(reqs) {
		return fmt.Errorf("%d outcomes for %d requests", len(outs), len(reqs))
	}
	for i, o := range outs {
		if o.Err != nil {
			return fmt.Errorf("request %d: %w", i, o.Err)
		}
		if want := "PONG " + reqs[i].Args[0]; o.Reply.Status != "Ok" || string(o.Reply.Result) != want {
			return fmt.Errorf("request %d got %s %q, want Ok %q: another request's reply", i, o.Reply.Status, o.Reply.Result, want)
		}
	}
	return nil
}

// 32 callers each sending batches of their own echoes, beside single
// requests, all get their own replies in order; in pipelined mode the
// batches exceed a connection's free slots and are split. The server, in
// strict mode, never sees two handshakes at once.
func TestBatchOrdering(t *testing.T) {
	for _, m := range batchModes {
		t.Run(m.name, func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
			c := connect(t, srv, modeOptions(3, m.depth))
			ctx := testCtx(t)
			var wg sync.WaitGroup
			for w := range 32 {
				wg.Go(func() {
					for i := range 20 {
						reqs := echoBatch(fmt.Sprintf("w%d-%d", w, i), 1+(w+i)%24)
						if err := checkEchoes(reqs, c.ExecBatch(ctx, reqs)); err != nil {
							t.Error(err)
							return
						}
						if err := echo(ctx, c, fmt.Sprintf("w%d-%d-single", w, i)); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			want := uint64(0)
			for w := range 32 {
				for i := range 20 {
					want += uint64(1+(w+i)%24) + 1
				}
			}
			s := c.Stats()
			if s.Requests != want || s.Errors != 0 || s.Open != 3 || s.InFlight != 0 {
				t.Fatalf("after the run: %+v, want %d requests", s, want)
			}
			if srv.Overlaps().Handshakes != 0 || srv.Stranded() != 0 || srv.Wedged() {
				t.Fatalf("the server saw overlapping handshakes: %+v", srv.Overlaps())
			}
		})
	}
}

// A batch larger than a connection's Pipeline never puts more than
// Pipeline requests on it: the rest waits for slots, and every reply is
// its own.
func TestBatchSplitKeepsDepth(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, pipelined(2, 4))
	ctx := testCtx(t)
	srv.SetLatency(5 * time.Millisecond)
	reqs := echoBatch("split", 21)
	done := make(chan []fleare.Outcome, 1)
	go func() { done <- c.ExecBatch(ctx, reqs) }()
	var outs []fleare.Outcome
	maxSeen := 0
	for outs == nil {
		select {
		case outs = <-done:
		default:
			s := c.Stats()
			maxSeen = max(maxSeen, s.InFlight)
			if s.InFlight > 2*4 {
				t.Fatalf("%d requests in flight on 2 connections of depth 4", s.InFlight)
			}
			runtime.Gosched()
		}
	}
	if err := checkEchoes(reqs, outs); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Requests != 21 || s.Waits == 0 {
		t.Fatalf("stats after a batch over two connections' depth: %+v (most in flight seen %d)", s, maxSeen)
	}
}

// The guard: ExecBatch fails an unsafe request alone, unsent, and sends
// the others; Pipeline refuses the whole batch, sending nothing.
func TestBatchGuard(t *testing.T) {
	for _, m := range batchModes {
		t.Run(m.name, func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
			c := connect(t, srv, modeOptions(1, m.depth))
			ctx := testCtx(t)
			reqs := []fleare.Request{
				{Command: "SET", Args: []string{"k", "v"}},
				{Command: "str.get", Args: []string{"missing"}},
				{Command: "GET", Args: []string{"k"}},
			}
			outs := c.ExecBatch(ctx, reqs)
			if !errors.Is(outs[1].Err, fleare.ErrUnsafeCommand) {
				t.Fatalf("unsafe request in a batch: %+v, want ErrUnsafeCommand", outs[1])
			}
			if outs[0].Err != nil || outs[2].Err != nil || string(outs[2].Reply.Result) != "v" {
				t.Fatalf("safe requests beside an unsafe one: %+v", outs)
			}
			if srv.Crashed() {
				t.Fatal("the unsafe request reached the server")
			}
			before := c.Stats().Requests
			res, err := c.Pipeline(ctx, []fleare.Request{{Command: "DELETE", Args: []string{"k"}}, {Command: "NUM.GET", Args: []string{"n"}}})
			if !errors.Is(err, fleare.ErrUnsafeCommand) || res != nil {
				t.Fatalf("Pipeline with an unsafe request: %v, %v; want ErrUnsafeCommand", res, err)
			}
			if got, err := c.Get(ctx, "k"); err != nil || got != "v" || c.Stats().Requests != before+1 {
				t.Fatalf("Pipeline refused a batch but sent part of it: GET k = %q, %v; stats %+v", got, err, c.Stats())
			}
		})
	}
}

// Pipeline reports an "Error" reply in its request's Result, beside the
// values of the others.
func TestBatchPipelineResults(t *testing.T) {
	for _, m := range batchModes {
		t.Run(m.name, func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
			c := connect(t, srv, modeOptions(2, m.depth))
			ctx := testCtx(t)
			res, err := c.Pipeline(ctx, []fleare.Request{
				{Command: "SET", Args: []string{"a", "1"}},
				{Command: "NOPE"},
				{Command: "GET", Args: []string{"a"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			var se *fleare.ServerError
			if res[0].Err != nil || !errors.As(res[1].Err, &se) || res[2].Err != nil || string(res[2].Value) != "1" {
				t.Fatalf("results: %+v", res)
			}
			if s := c.Stats(); s.Requests != 3 || s.ServerErrors != 1 || s.Errors != 0 {
				t.Fatalf("stats: %+v", s)
			}
		})
	}
}

// A canceled batch returns at once; its replies are discarded and the
// connection stays up, for the requests after it too.
func TestBatchCancelKeepsConnection(t *testing.T) {
	for _, m := range batchModes {
		t.Run(m.name, func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
			c := connect(t, srv, modeOptions(1, m.depth))
			ctx := testCtx(t)
			srv.SetLatency(200 * time.Millisecond)
			var outs []fleare.Outcome
			for attempt := 1; ; attempt++ {
				cctx, cancel := context.WithCancel(ctx)
				done := make(chan []fleare.Outcome, 1)
				go func() { done <- c.ExecBatch(cctx, echoBatch("canceled", 4)) }()
				waitStats(t, c, "the batch on the wire", func(s fleare.Stats) bool { return s.InFlight >= 1 })
				cancel()
				outs = <-done
				if outs[3].Err != nil || attempt == 5 {
					break
				}
				// All replies came before the cancel on a slow machine: again.
			}
			for i, o := range outs {
				if o.Err == nil {
					continue
				}
				if !errors.Is(o.Err, context.Canceled) || errors.Is(o.Err, fleare.ErrBroken) || fleare.SafeToRetry(o.Err) {
					t.Fatalf("canceled request %d: %v", i, o.Err)
				}
			}
			srv.SetLatency(0)
			for i := range 5 {
				reqs := echoBatch(fmt.Sprintf("next-%d", i), 8)
				if err := checkEchoes(reqs, c.ExecBatch(ctx, reqs)); err != nil {
					t.Fatal(err)
				}
			}
			waitStats(t, c, "the canceled replies read", func(s fleare.Stats) bool { return s.InFlight == 0 })
			if s := c.Stats(); s.Open != 1 || s.ClosedCanceled != 0 || s.DialAttempts != 1 || srv.Accepted() != 1 || s.Abandoned == 0 {
				t.Fatalf("the connection did not survive the cancel: %+v", s)
			}
		})
	}
}

// A batch past its deadline fails with timeouts, sent; the connection it
// ran on is closed (or retired, then closed) and replaced, and no late
// reply reaches a later request.
func TestBatchTimeout(t *testing.T) {
	for _, m := range batchModes {
		t.Run(m.name, func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
			c := connect(t, srv, modeOptions(1, m.depth))
			ctx := testCtx(t)
			srv.SetLatency(300 * time.Millisecond)
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			outs := c.ExecBatch(short, echoBatch("late", 3))
			for i, o := range outs {
				var te *fleare.TimeoutError
				if !errors.As(o.Err, &te) || !te.Sent || fleare.SafeToRetry(o.Err) {
					t.Fatalf("request %d past its deadline: %v, want a TimeoutError with Sent", i, o.Err)
				}
			}
			srv.SetLatency(0)
			waitStats(t, c, "the connection replaced", func(s fleare.Stats) bool { return s.ClosedTimeout == 1 && s.Replaced == 1 && s.Open == 1 })
			for i := range 10 {
				reqs := echoBatch(fmt.Sprintf("after-%d", i), 5)
				if err := checkEchoes(reqs, c.ExecBatch(ctx, reqs)); err != nil {
					t.Fatal(err)
				}
			}
			if s := c.Stats(); s.Errors != 3 || s.Requests != 3+50 {
				t.Fatalf("stats: %+v", s)
			}
		})
	}
}

// A paused Client holds a batch until Resume; with MaxQueue reached, the
// batch fails at once with ErrQueueFull, every request of it.
func TestBatchPause(t *testing.T) {
	for _, m := range batchModes {
		t.Run(m.name, func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
			o := modeOptions(1, m.depth)
			o.MaxQueue = 1
			c := connect(t, srv, o)
			ctx := testCtx(t)
			if err := c.Pause(ctx); err != nil {
				t.Fatal(err)
			}
			done := make(chan []fleare.Outcome, 1)
			reqs := echoBatch("held", 4)
			go func() { done <- c.ExecBatch(ctx, reqs) }()
			waitStats(t, c, "the batch held", func(s fleare.Stats) bool { return s.Held == 1 })
			for i, o := range c.ExecBatch(ctx, echoBatch("full", 2)) {
				if !errors.Is(o.Err, fleare.ErrQueueFull) {
					t.Fatalf("request %d beyond MaxQueue: %v, want ErrQueueFull", i, o.Err)
				}
			}
			c.Resume()
			if err := checkEchoes(reqs, <-done); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A stray reply on an idle connection is caught before a batch is sent on
// it: the connection is dropped and the batch goes out on another, with
// its own replies.
func TestBatchStrayOnIdleConnection(t *testing.T) {
	for _, m := range batchModes {
		t.Run(m.name, func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
			o := modeOptions(1, m.depth)
			o.HealthCheckInterval = time.Hour // the look before the batch must find it
			c := connect(t, srv, o)
			ctx := testCtx(t)
			if err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			if n := srv.WriteStray(); n != 1 {
				t.Fatalf("stray written on %d connections", n)
			}
			reqs := echoBatch("after-stray", 6)
			var outs []fleare.Outcome
			deadline := time.Now().Add(10 * time.Second)
			for {
				outs = c.ExecBatch(ctx, reqs)
				if outs[0].Err == nil || time.Now().After(deadline) {
					break
				}
				// The stray had not reached the socket when the pool looked:
				// the batch failed on it, and the connection was dropped.
				if !errors.Is(outs[0].Err, fleare.ErrBroken) {
					t.Fatal(outs[0].Err)
				}
			}
			if err := checkEchoes(reqs, outs); err != nil {
				t.Fatal(err)
			}
			if s := c.Stats(); s.ClosedStray != 1 {
				t.Fatalf("stats: %+v", s)
			}
		})
	}
}

// A frame no request asked for, arriving with a plain batch's last reply,
// fails the batch and closes the connection, which is replaced. (The
// server writes the stray with the reply it follows; with several requests
// that reply may go out before the others arrive, and the stray is then
// found by the look before the connection's next use, as for Exec.)
func TestBatchStrayAmongReplies(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, plainOptions(1))
	ctx := testCtx(t)
	srv.StrayAfterNextReply()
	for i, o := range c.ExecBatch(ctx, echoBatch("stray", 1)) {
		if !errors.Is(o.Err, fleare.ErrBroken) || o.Reply.Status != "" {
			t.Fatalf("request %d of a batch with a stray among its replies: %+v, want ErrBroken", i, o)
		}
	}
	waitStats(t, c, "the connection replaced", func(s fleare.Stats) bool { return s.ClosedStray == 1 && s.Open == 1 })
	reqs := echoBatch("after", 4)
	if err := checkEchoes(reqs, c.ExecBatch(ctx, reqs)); err != nil {
		t.Fatal(err)
	}
}

// Batches waiting for slots are each handed as many as they want when
// slots free together: a batch waits once, not once per request.
func TestBatchWaitersGetWholeSlots(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, pipelined(1, 4))
	ctx := testCtx(t)
	srv.SetLatency(100 * time.Millisecond)
	results := make(chan error, 3)
	run := func(prefix string) {
		reqs := echoBatch(prefix, 4)
		results <- checkEchoes(reqs, c.ExecBatch(ctx, reqs))
	}
	go run("first")
	waitStats(t, c, "the first batch on every slot", func(s fleare.Stats) bool { return s.InFlight == 4 })
	go run("second")
	go run("third")
	waitStats(t, c, "two batches waiting", func(s fleare.Stats) bool { return s.Waiting == 2 })
	for range 3 {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.Waits != 2 || s.Requests != 12 || s.InFlight != 0 || s.Waiting != 0 {
		t.Fatalf("each waiting batch should wait once: %+v", s)
	}
}

// A batch that gives up waiting for slots leaves none taken.
func TestBatchGivesUpWaiting(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, pipelined(1, 2))
	ctx := testCtx(t)
	srv.SetLatency(200 * time.Millisecond)
	held := make(chan error, 1)
	go func() {
		reqs := echoBatch("held", 2)
		held <- checkEchoes(reqs, c.ExecBatch(ctx, reqs))
	}()
	waitStats(t, c, "both slots taken", func(s fleare.Stats) bool { return s.InFlight == 2 })
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	for i, o := range c.ExecBatch(short, echoBatch("late", 3)) {
		var te *fleare.TimeoutError
		if !errors.As(o.Err, &te) || te.Sent {
			t.Fatalf("request %d of a batch that found no slot in time: %v, want an unsent TimeoutError", i, o.Err)
		}
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	waitStats(t, c, "every slot back", func(s fleare.Stats) bool { return s.InFlight == 0 && s.Waiting == 0 })
	srv.SetLatency(0)
	reqs := echoBatch("after", 5)
	if err := checkEchoes(reqs, c.ExecBatch(ctx, reqs)); err != nil {
		t.Fatal(err)
	}
}
