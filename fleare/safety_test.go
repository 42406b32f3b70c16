package fleare_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// The tests in this file show that the client is safe for the real
// server: fleartest's strict mode wedges on overlapping handshakes as the
// real server does, and its Overlaps records the closes that crash it.

// Two names for one server share its gate: clients dialing "localhost" and
// "127.0.0.1" at once never dial together, so the strict server strands
// nothing (it would wedge for good).
func TestGateSharedAcrossNames(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
	o := fastOptions(4)
	o.MaxRetries = -1 // a stranded dial would fail Connect
	var clients []*fleare.Client
	for i := range 8 {
		host := "127.0.0.1"
		if i%2 == 1 {
			host = "localhost"
		}
		c := fleare.NewClient(host, srv.Port(), o)
		t.Cleanup(func() { _ = c.Close(context.Background()) })
		clients = append(clients, c)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(clients))
	for _, c := range clients {
		wg.Go(func() { errs <- c.Connect(testCtx(t)) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range clients { // grow them all at once
		if err := c.Resize(6); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitConns(testCtx(t), 48); err != nil {
		t.Fatal(err)
	}
	if srv.Stranded() != 0 || srv.Wedged() || srv.Overlaps().Handshakes != 0 {
		t.Fatalf("stranded %d, wedged %v, overlaps %+v", srv.Stranded(), srv.Wedged(), srv.Overlaps())
	}
}

// Closes to one server go one at a time, spaced, and never during a
// dial: resizing two pools down while a third grows, then closing them
// all, leaves fleartest with no overlapping disconnect to record.
func TestClosesNeverOverlap(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
	o := fastOptions(6)
	o.CloseSpacing = 25 * time.Millisecond // wide against the 1ms the recorder counts, for loaded machines
	a, b, grower := connect(t, srv, o), connect(t, srv, o), connect(t, srv, func() fleare.Options { o := o; o.PoolSize = 1; return o }())
	for _, step := range []func() error{
		func() error { return a.Resize(1) },
		func() error { return b.Resize(1) },
		func() error { return grower.Resize(4) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitConns(testCtx(t), 6); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, c := range []*fleare.Client{a, b, grower} {
		wg.Go(func() {
			if err := c.Close(testCtx(t)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := srv.WaitConns(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
	if got := srv.Overlaps(); got != (fleartest.Overlaps{}) || srv.Stranded() != 0 {
		t.Fatalf("overlaps %+v, stranded %d", got, srv.Stranded())
	}
}

// A server that drops a new connection before answering its auth frame
// (the real one does, now and then, after closes) costs a retry, not a
// failed dial.
func TestAuthCutShortIsRetried(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
	srv.DropNextAuths(2)
	o := fastOptions(2)
	o.MaxRetries = -1 // Connect fails at the first failed dial
	c := connect(t, srv, o)
	if s := c.Stats(); s.DialFailures != 0 || s.Open != 2 || srv.Accepted() != 4 {
		t.Fatalf("Stats = %+v, accepted %d", s, srv.Accepted())
	}
	srv.DropNextAuths(3) // more than the retries
	_, err := fleare.Dial(testCtx(t), srv.Host(), srv.Port(), o)
	var ce *fleare.ConnError
	if !errors.As(err, &ce) || ce.Op != "auth" {
		t.Fatalf("Dial after 3 dropped auths: %v", err)
	}
}

// cancelStorm runs 32 callers whose requests are canceled at random
// moments until 1,000 were canceled after they were sent, and checks every
// reply that came back is the caller's own.
func cancelStorm(t *testing.T, c *fleare.Client) (abandoned int64) {
	ctx := testCtx(t)
	var sentCanceled, wrong, other atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := 0; sentCanceled.Load() < 1000 && ctx.Err() == nil; i++ {
				word := fmt.Sprintf("w%d-%d", w, i)
				rctx, cancel := context.WithCancel(ctx)
				timer := time.AfterFunc(time.Duration(rand.IntN(2000))*time.Microsecond, cancel)
				res, err := c.Do(rctx, "PING", word)
				timer.Stop()
				cancel()
				switch {
				case err == nil && string(res) != "PONG "+word:
					wrong.Add(1)
				case err == nil:
				case errors.Is(err, context.Canceled) && !fleare.SafeToRetry(err):
					sentCanceled.Add(1)
				case errors.Is(err, context.Canceled):
				default:
					other.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if wrong.Load() != 0 || other.Load() != 0 || sentCanceled.Load() < 1000 {
		t.Fatalf("%d wrong replies, %d other errors (first: %v), %d canceled after sending",
			wrong.Load(), other.Load(), firstErr.Load(), sentCanceled.Load())
	}
	return sentCanceled.Load()
}

// 1,000 requests canceled mid-flight under 32 callers cost no connection:
// no redial, no wrong reply, no error or disconnected event, in plain and
// pipelined mode.
func TestCanceledRequestsKeepConnections(t *testing.T) {
	for _, o := range []fleare.Options{fastOptions(16), pipelined(4, 8)} {
		t.Run(fmt.Sprintf("pipeline=%d", o.Pipeline), func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true, Latency: time.Millisecond})
			events := newEventLog()
			o.OnEvent = events.record
			c := connect(t, srv, o)
			canceled := cancelStorm(t, c)
			s := c.Stats()
			if s.DialAttempts != uint64(o.PoolSize) || srv.Accepted() != uint64(o.PoolSize) || s.Open != o.PoolSize || s.ClosedCanceled+s.ClosedTimeout+s.ClosedBroken != 0 || s.Abandoned == 0 {
				t.Fatalf("after %d canceled requests: %+v, accepted %d", canceled, s, srv.Accepted())
			}
			for _, e := range events.snapshot() {
				if e.Type == fleare.EventError || e.Type == fleare.EventDisconnected {
					t.Fatalf("a cancellation produced %v", e)
				}
			}
			srv.SetLatency(0)
			for i := range 20 {
				if err := echo(testCtx(t), c, fmt.Sprintf("after-%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("%d requests canceled after sending; %d abandoned replies discarded", canceled, s.Abandoned)
		})
	}
}

// setGetRound runs 32 callers doing n Set+Get pairs of unique values each,
// and counts a Get that returns anything but the value just set.
func setGetRound(t *testing.T, c *fleare.Client, round, n int) (wrong, failed int64) {
	ctx := testCtx(t)
	var w, f atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range n {
				k := fmt.Sprintf("k-%d-%d-%d", round, g, i)
				v := "v-" + k
				if err := c.Set(ctx, k, v); err != nil {
					f.Add(1)
					continue
				}
				got, err := c.Get(ctx, k)
				switch {
				case err != nil:
					f.Add(1)
				case got != v:
					w.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return w.Load(), f.Load()
}

// A stray frame that arrives with a reply, in the same read, makes that
// request fail instead of returning a reply that may be another's, and the
// connection is closed before it carries another request: under 32
// callers doing Set+Get, no Get returns a wrong value.
func TestStrayWithReplyDetected(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, plainOptions(4)) // pipelined: TestStrayOnIdlePipelineDetected
	const strays = 5
	var wrong, failed int64
	for round := range strays {
		srv.StrayAfterNextReply()
		w, f := setGetRound(t, c, round, 20)
		wrong, failed = wrong+w, failed+f
		waitStats(t, c, "the stray found", func(s fleare.Stats) bool { return s.ClosedStray == uint64(round+1) })
	}
	if s := c.Stats(); wrong != 0 || s.ClosedStray != strays || srv.RequestsAfterStray() != 0 || failed > strays {
		t.Fatalf("%d wrong, %d failed; %d requests after a stray; stats %+v", wrong, failed, srv.RequestsAfterStray(), s)
	}
}

// A stray frame that arrives on its own on a pipelined connection with no
// reply awaited is found before the connection carries another request (by
// the health check, or by the look at an idle connection before a
// request): under 32 callers doing Set+Get between injections, no Get
// returns a wrong value.
func TestStrayOnIdlePipelineDetected(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, pipelined(4, 8))
	var wrong, failed int64
	injected := 0
	for round := range 5 {
		w, f := setGetRound(t, c, round, 20)
		wrong, failed = wrong+w, failed+f
		waitStats(t, c, "the pool whole", func(s fleare.Stats) bool { return s.Open == 4 })
		injected += writeStray(t, srv)
		waitStats(t, c, "the strays found", func(s fleare.Stats) bool { return s.ClosedStray == uint64(injected) })
	}
	if s := c.Stats(); wrong != 0 || failed != 0 || injected < 5 || srv.RequestsAfterStray() != 0 {
		t.Fatalf("%d wrong, %d failed, %d strays, %d requests after one; stats %+v", wrong, failed, injected, srv.RequestsAfterStray(), s)
	}
}

// writeStray writes a stray frame on the server's idle connections, trying
// again while it finds none idle (a connection just dialed is idle once
// its server goroutine waits for a request).
func writeStray(t *testing.T, srv *fleartest.Server) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n := srv.WriteStray(); n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatal("no idle connection to write a stray on")
		}
		time.Sleep(time.Millisecond)
	}
}

// STR.GET and NUM.GET are refused before anything is sent; StrGet and
// NumGet read the same values safely, missing keys included, from a server
// that crashes on a missing key as the real one does.
func TestUnsafeCommandsGuarded(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, CrashOnMissingKey: true})
	c := connect(t, srv, fastOptions(1))
	conn := dialT(t, srv, fastOptions(1))
	ctx := testCtx(t)
	for _, cmd := range fleare.UnsafeCommands() {
		_, err1 := c.Do(ctx, cmd, "missing")
		_, err2 := c.Exec(ctx, strings.ToLower(cmd), "missing")
		_, err3 := conn.Do(ctx, cmd, "missing")
		_, err4 := conn.Pipeline(ctx, []fleare.Request{{Command: "PING"}, {Command: cmd, Args: []string{"missing"}}})
		for _, err := range []error{err1, err2, err3, err4} {
			if !errors.Is(err, fleare.ErrUnsafeCommand) {
				t.Fatalf("%s: %v, want ErrUnsafeCommand", cmd, err)
			}
		}
	}
	// Other spellings a server could still read as them: ſ upper-cases to
	// S, and whether the server trims or splits a name is not known.
	for _, cmd := range []string{"\u017ftr.get", " STR.GET", "NUM.GET\t", "str.get missing"} {
		if _, err := c.Do(ctx, cmd, "missing"); !errors.Is(err, fleare.ErrUnsafeCommand) {
			t.Fatalf("%q: %v, want ErrUnsafeCommand", cmd, err)
		}
	}
	if !fleare.IsUnsafe("str.get") || fleare.IsUnsafe("GET") || fleare.IsUnsafe("STR.GETX") || fleare.IsUnsafe("STR.SET") || srv.Requests() != 0 {
		t.Fatalf("guard: IsUnsafe wrong, or %d requests reached the server", srv.Requests())
	}
	if s, err := c.StrGet(ctx, "missing"); err != nil || s != "" {
		t.Fatalf("StrGet(missing) = %q, %v", s, err)
	}
	if n, found, err := c.NumGet(ctx, "missing"); err != nil || found || n != 0 {
		t.Fatalf("NumGet(missing) = %v, %v, %v", n, found, err)
	}
	for _, kv := range [][3]string{{"STR.SET", "s", "text"}, {"NUM.SET", "n", "12.5"}} {
		if _, err := c.Do(ctx, kv[0], kv[1], kv[2]); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := c.StrGet(ctx, "s"); err != nil || s != "text" {
		t.Fatalf("StrGet(s) = %q, %v", s, err)
	}
	if n, found, err := c.NumGet(ctx, "n"); err != nil || !found || n != 12.5 {
		t.Fatalf("NumGet(n) = %v, %v, %v", n, found, err)
	}
	if _, _, err := c.NumGet(ctx, "s"); err == nil {
		t.Fatal("NumGet of a string succeeded")
	}
	if srv.Crashed() {
		t.Fatal("the server crashed")
	}
	// Turned off, the guard lets the command through, and the server dies.
	o := fastOptions(1)
	o.AllowUnsafeCommands = true
	unguarded := dialT(t, srv, o)
	if _, err := unguarded.Do(ctx, "STR.GET", "missing"); err == nil {
		t.Fatal("STR.GET of a missing key answered")
	}
	if err := srv.Wait(ctx, srv.Crashed); err != nil {
		t.Fatal(err)
	}
}

// EXISTS past 127 keys: the real server's count wraps in 8 bits; Exists
// asks in batches it can read back exactly.
func TestExistsBeyondEightBits(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(1))
	ctx := testCtx(t)
	keys := make([]string, 600)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
		if i%3 != 0 {
			if err := c.Set(ctx, keys[i], "v"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := c.Exists(ctx, keys...); err != nil || n != 400 {
		t.Fatalf("Exists(600 keys, 400 set) = %d, %v", n, err)
	}
	if n, err := c.Exists(ctx, keys[1:201]...); err != nil || n != 134 {
		t.Fatalf("Exists(200 keys, 134 set) = %d, %v", n, err)
	}
}

// A canceled request's connection is closed only when its reply has not
// come by the request's deadline: the server stopped answering. It is then
// counted a timeout, reported in an error event, and replaced.
func TestAbandonedReplyNeverComes(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	events := newEventLog()
	o := fastOptions(1)
	o.RequestTimeout = 200 * time.Millisecond
	o.OnEvent = events.record
	c := connect(t, srv, o)
	srv.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { _, err := c.Do(ctx, "PING"); done <- err }()
	waitStats(t, c, "the request on the wire", func(s fleare.Stats) bool { return s.InUse == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	waitStats(t, c, "the silent connection closed", func(s fleare.Stats) bool { return s.ClosedTimeout == 1 })
	srv.SetLatency(0)
	waitStats(t, c, "a new connection", func(s fleare.Stats) bool { return s.Open == 1 && s.Replaced == 1 })
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	events.waitFor(t, "an error event", func(evs []fleare.Event) bool { return count(evs, fleare.EventError) == 1 })
}

// On a single Conn the next request reads the canceled one's reply first,
// within its own deadline; a server that never sends it fails that request
// unsent, and the connection is closed.
func TestConnAbandonedReplyNeverComes(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Latency: time.Hour})
	c := dialT(t, srv, fastOptions(1))
	ctx, cancel := context.WithCancel(testCtx(t))
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := c.Do(ctx, "PING"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled request: %v", err)
	}
	short, cancel2 := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel2()
	_, err := c.Do(short, "PING")
	var te *fleare.TimeoutError
	if !errors.As(err, &te) || te.Sent || !c.Broken() {
		t.Fatalf("next request: %v (broken %v)", err, c.Broken())
	}
}
