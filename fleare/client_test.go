package fleare_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

func TestClientCommands(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(4))
	ctx := testCtx(t)
	if err := srv.WaitConns(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k"); err != nil || v != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if n, err := c.Exists(ctx, "k", "nope"); err != nil || n != 1 {
		t.Fatalf("Exists = %d, %v", n, err)
	}
	if err := c.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "k"); err != nil || v != "" {
		t.Fatalf("Get after Delete = %q, %v", v, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.ServerStatus != "running" || st.ShardCount != 1 || len(st.Shards) != 1 || st.Shards[0].HostAddress != srv.Addr() || st.UpTime.IsZero() {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	sess, err := c.Session(ctx)
	if err != nil || sess.User.Username != testUser || sess.Status != 1 || sess.SessionID == "" {
		t.Fatalf("Session = %+v, %v", sess, err)
	}
	_, err = c.Do(ctx, "SET", "only-key")
	var se *fleare.ServerError
	if !errors.As(err, &se) || se.Kind() != "InvalidArgumentError" || se.Command != "SET" {
		t.Fatalf("bad args: %v", err)
	}
	s := c.Stats()
	if s.State != fleare.StateConnected || s.Open != 4 || s.Idle != 4 || s.InUse != 0 || s.Desired != 4 ||
		s.Requests != 9 || s.ServerErrors != 1 || s.Errors != 0 || s.DialAttempts != 4 || s.DialFailures != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitConns(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, "PING"); !errors.Is(err, fleare.ErrClosed) || !fleare.SafeToRetry(err) {
		t.Fatalf("Do after Close: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s := c.Stats(); s.State != fleare.StateDisconnected || s.Open != 0 || s.ClosedShutdown != 4 {
		t.Fatalf("after Close: %+v", s)
	}
}

func TestClientNotConnected(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{})
	c := newClient(t, srv, fleare.Options{})
	if _, err := c.Do(testCtx(t), "PING"); !errors.Is(err, fleare.ErrNotConnected) {
		t.Fatalf("Do before Connect: %v", err)
	}
}

func TestClientValidation(t *testing.T) {
	c := fleare.NewClient("", 0, fleare.Options{PoolSize: -1, RequestTimeout: -time.Second})
	err := c.Connect(testCtx(t))
	for _, want := range []string{"host is empty", "port is 0", "PoolSize is -1", "RequestTimeout is -1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Connect error %v does not mention %q", err, want)
		}
	}
	if err := c.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Resize(0); err == nil {
		t.Fatal("Resize(0) accepted")
	}
}

func TestOptionsNeverPrintPassword(t *testing.T) {
	o := fleare.Options{Username: "u", Password: testPass}
	for _, s := range []string{fmt.Sprint(o), fmt.Sprintf("%v %+v %#v %s", o, o, o, o), o.String()} {
		if strings.Contains(s, testPass) {
			t.Fatalf("password printed: %s", s)
		}
	}
	if !strings.Contains(o.String(), "<secret>") {
		t.Fatalf("String() = %s", o)
	}
}

// A wrong password: Connect reports an AuthError after its retries, the
// client is in state error and fails requests at once, and the password
// appears nowhere.
func TestClientAuthFailure(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: map[string]string{testUser: "other"}})
	log := newEventLog()
	o := fastOptions(2)
	o.MaxRetries = 2
	o.RetryInterval = time.Millisecond
	o.OnEvent = log.record
	c := newClient(t, srv, o)
	err := c.Connect(testCtx(t))
	var ae *fleare.AuthError
	if !errors.As(err, &ae) || !errors.Is(err, fleare.ErrAuth) {
		t.Fatalf("Connect: %v", err)
	}
	if s := c.Stats(); s.State != fleare.StateError || s.DialFailures < 3 || s.Open != 0 || !strings.Contains(s.LastError, "incorrect") {
		t.Fatalf("Stats = %+v", s)
	}
	start := time.Now()
	_, err = c.Do(testCtx(t), "PING")
	if !errors.Is(err, fleare.ErrUnavailable) || !errors.As(err, &ae) || !fleare.SafeToRetry(err) || time.Since(start) > time.Second {
		t.Fatalf("Do in state error: %v", err)
	}
	// Fixing the credentials on the server lets the background dialer in.
	srv.SetUsers(testUsers)
	log.waitFor(t, "connected", func(evs []fleare.Event) bool { return lastState(evs) == fleare.StateConnected })
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close(testCtx(t))
	for _, e := range log.snapshot() {
		if strings.Contains(e.String(), testPass) || e.Err != nil && strings.Contains(fmt.Sprintf("%+v", e.Err), testPass) {
			t.Fatalf("event leaks the password: %v", e)
		}
	}
	if strings.Contains(c.Stats().LastError, testPass) {
		t.Fatal("LastError leaks the password")
	}
}

// PasswordFunc is called at each dial, so a rotated secret is used by the
// connections that replace broken ones.
func TestClientPasswordFunc(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	var current atomic.Value
	current.Store(testPass)
	var calls atomic.Int32
	o := fastOptions(2)
	o.Password = ""
	o.PasswordFunc = func() (string, error) {
		calls.Add(1)
		return current.Load().(string), nil
	}
	c := connect(t, srv, o)
	srv.SetUsers(map[string]string{testUser: "rotated"})
	current.Store("rotated")
	before := srv.Accepted()
	srv.CloseClientConnections()
	if err := srv.Wait(testCtx(t), func() bool { return srv.Accepted() == before+2 && srv.Conns() == 2 }); err != nil {
		t.Fatal(err)
	}
	if calls.Load() < 4 {
		t.Fatalf("PasswordFunc called %d times for 4 dials", calls.Load())
	}
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// A server that comes up late: Connect keeps retrying with backoff and
// succeeds once it is there.
func TestClientRetriesUntilServerIsUp(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	srv.Stop()
	log := newEventLog()
	o := fastOptions(3)
	o.MaxRetries = 1000
	o.OnEvent = log.record
	c := newClient(t, srv, o)
	errc := make(chan error, 1)
	go func() { errc <- c.Connect(testCtx(t)) }()
	log.waitFor(t, "three failed dials", func(evs []fleare.Event) bool { return count(evs, fleare.EventError) >= 3 })
	if c.State() != fleare.StateConnecting {
		t.Fatalf("state %v while retrying", c.State())
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	s := c.Stats()
	if s.DialFailures < 3 || s.Open != 3 || s.State != fleare.StateConnected {
		t.Fatalf("Stats = %+v", s)
	}
}

// Connect gives up after 1+MaxRetries failures but the client keeps dialing
// and recovers by itself.
func TestClientConnectGivesUpThenRecovers(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	srv.Stop()
	log := newEventLog()
	o := fastOptions(2)
	o.MaxRetries = 2
	o.OnEvent = log.record
	c := newClient(t, srv, o)
	err := c.Connect(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "3 dial attempt(s) in a row failed") || !errors.Is(err, fleare.ErrBroken) {
		t.Fatalf("Connect: %v", err)
	}
	if c.State() != fleare.StateError {
		t.Fatalf("state %v", c.State())
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitConns(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, "connected", func(evs []fleare.Event) bool { return lastState(evs) == fleare.StateConnected })
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// Connections the server closes are noticed while idle and replaced in the
// background, without any request failing.
func TestClientReplacesBrokenConnections(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := connect(t, srv, fastOptions(4))
	ctx := testCtx(t)
	before := srv.Accepted()
	srv.CloseClientConnections()
	if err := srv.Wait(ctx, func() bool { return srv.Conns() == 4 && srv.Accepted() == before+4 }); err != nil {
		t.Fatal(err)
	}
	waitStats(t, c, "4 replaced", func(s fleare.Stats) bool { return s.Replaced == 4 && s.Open == 4 })
	if s := c.Stats(); s.ClosedBroken != 4 || s.Errors != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// Requests in flight when the server drops connections fail with a
// connection error (never ErrClosed); the pool heals.
func TestClientConnectionsDropMidRequest(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Latency: time.Second})
	c := connect(t, srv, plainOptions(2)) // pipelined: TestPipelineBrokenConnection
	ctx := testCtx(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := c.Do(ctx, "PING"); errs <- err }()
	}
	waitStats(t, c, "2 in use", func(s fleare.Stats) bool { return s.InUse == 2 })
	srv.CloseClientConnections()
	for range 2 {
		err := <-errs
		var ce *fleare.ConnError
		if !errors.As(err, &ce) || errors.Is(err, fleare.ErrClosed) || !ce.Sent {
			t.Fatalf("err = %v", err)
		}
	}
	srv.SetLatency(0)
	if err := srv.WaitConns(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// A timed-out request closes its connection: the late reply never reaches
// the next request.
func TestClientTimeoutNoLateReply(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	o := fastOptions(1)
	o.RequestTimeout = 50 * time.Millisecond
	c := connect(t, srv, o)
	ctx := testCtx(t)
	for _, k := range []string{"a", "b"} {
		if err := c.Set(ctx, k, "value-of-"+k); err != nil {
			t.Fatal(err)
		}
	}
	srv.SetLatency(300 * time.Millisecond)
	_, err := c.Get(ctx, "a")
	if !errors.Is(err, fleare.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow GET: %v", err)
	}
	srv.SetLatency(0)
	if v, err := c.Get(ctx, "b"); err != nil || v != "value-of-b" {
		t.Fatalf("GET b = %q, %v (late reply leaked?)", v, err)
	}
	if s := c.Stats(); s.ClosedTimeout != 1 || s.Errors != 1 || s.Replaced != 1 {
		t.Fatalf("Stats = %+v", s)
	}
}

// A request canceled after it was sent returns at once, and its connection
// stays: the reply is read and discarded, nothing is redialed, and the next
// request gets its own reply.
func TestClientCancelMidRequest(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	events := newEventLog()
	o := fastOptions(1)
	o.OnEvent = events.record
	c := connect(t, srv, o)
	srv.SetLatency(500 * time.Millisecond) // long enough for the cancel to come first
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { _, err := c.Do(ctx, "PING", "canceled"); done <- err }()
	waitStats(t, c, "the request on the wire", func(s fleare.Stats) bool { return s.InUse == 1 })
	if err := srv.Wait(testCtx(t), func() bool { return srv.Requests() == 0 && srv.Conns() == 1 }); err != nil {
		t.Fatal(err)
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, fleare.ErrClosed) || errors.Is(err, fleare.ErrBroken) ||
		errors.Is(err, fleare.ErrTimeout) || fleare.SafeToRetry(err) {
		t.Fatalf("err = %v", err)
	}
	srv.SetLatency(0)
	if res, err := c.Do(testCtx(t), "PING", "next"); err != nil || string(res) != "PONG next" {
		t.Fatalf("next request = %q, %v", res, err)
	}
	s := c.Stats()
	if s.Abandoned != 1 || s.ClosedCanceled != 0 || s.DialAttempts != 1 || s.Open != 1 || srv.Accepted() != 1 {
		t.Fatalf("Stats = %+v, accepted %d", s, srv.Accepted())
	}
	for _, e := range events.snapshot() {
		if e.Type == fleare.EventError || e.Type == fleare.EventDisconnected {
			t.Fatalf("a cancellation produced %v", e)
		}
	}
}

// Callers wait in a bounded queue once every connection is taken (plain:
// one request each; pipelined: Pipeline requests each); beyond MaxQueue
// the next fails at once.
func TestClientQueueFull(t *testing.T) {
	for _, depth := range []int{1, 2} {
		t.Run(map[int]string{1: "plain", 2: "pipelined"}[depth], func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Latency: 100 * time.Millisecond})
			o := fastOptions(1)
			o.Pipeline = depth
			o.MaxQueue = 2
			c := connect(t, srv, o)
			ctx := testCtx(t)
			var wg sync.WaitGroup
			var failed atomic.Int32
			for range depth + 2 {
				wg.Go(func() {
					if err := c.Ping(ctx); err != nil {
						failed.Add(1)
					}
				})
			}
			waitStats(t, c, "2 waiting", func(s fleare.Stats) bool { return s.Waiting == 2 && s.InFlight == depth })
			start := time.Now()
			err := c.Ping(ctx)
			if !errors.Is(err, fleare.ErrQueueFull) || !fleare.SafeToRetry(err) || time.Since(start) > 50*time.Millisecond {
				t.Fatalf("err = %v after %v", err, time.Since(start))
			}
			wg.Wait()
			if failed.Load() != 0 {
				t.Fatal("queued requests failed")
			}
			if s := c.Stats(); s.QueueFull != 1 || s.Waits != 2 {
				t.Fatalf("Stats = %+v", s)
			}
		})
	}
}

// Pipelined: TestPipelineAbandonedRequest.
func TestClientNoQueue(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Latency: 100 * time.Millisecond})
	o := plainOptions(1)
	o.MaxQueue = -1
	c := connect(t, srv, o)
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() { done <- c.Ping(ctx) }()
	waitStats(t, c, "1 in use", func(s fleare.Stats) bool { return s.InUse == 1 })
	if err := c.Ping(ctx); !errors.Is(err, fleare.ErrQueueFull) {
		t.Fatalf("second caller: err = %v, want ErrQueueFull", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	if s := c.Stats(); s.QueueFull != 1 || s.Waits != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestClientAcquireTimeout(t *testing.T) {
	for _, depth := range []int{1, 2} {
		t.Run(map[int]string{1: "plain", 2: "pipelined"}[depth], func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Latency: time.Second})
			o := fastOptions(1)
			o.Pipeline = depth
			c := connect(t, srv, o)
			ctx := testCtx(t)
			done := make(chan error, depth)
			for range depth {
				go func() { done <- c.Ping(ctx) }()
			}
			waitStats(t, c, "the connection taken", func(s fleare.Stats) bool { return s.InFlight == depth })

			short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
			defer cancel()
			err := c.Ping(short)
			var te *fleare.TimeoutError
			if !errors.As(err, &te) || te.Op != "acquire" || te.Sent || !fleare.SafeToRetry(err) {
				t.Fatalf("ctx deadline while waiting: %v", err)
			}
			// RequestTimeout bounds the wait when ctx has no deadline.
			if err := c.Update(func() fleare.Options { o := o; o.RequestTimeout = 30 * time.Millisecond; return o }()); err != nil {
				t.Fatal(err)
			}
			err = c.Ping(context.Background())
			if !errors.As(err, &te) || te.Op != "acquire" {
				t.Fatalf("RequestTimeout while waiting: %v", err)
			}
			// A cancel ends the wait; RequestTimeout back to its value, so
			// that only the cancel can.
			if err := c.Update(o); err != nil {
				t.Fatal(err)
			}
			canceled, cancel2 := context.WithCancel(ctx)
			waited := make(chan error, 1)
			go func() { waited <- c.Ping(canceled) }()
			waitStats(t, c, "a caller waiting", func(s fleare.Stats) bool { return s.Waiting == 1 })
			cancel2()
			if err := <-waited; !errors.Is(err, context.Canceled) || !fleare.SafeToRetry(err) {
				t.Fatalf("cancel while waiting: %v", err)
			}
			for range depth {
				if err := <-done; err != nil {
					t.Fatalf("request holding the connection: %v", err)
				}
			}
			if s := c.Stats(); s.Open != 1 || s.Idle != 1 || s.Waiting != 0 {
				t.Fatalf("Stats = %+v", s)
			}
		})
	}
}

func TestClientUpdate(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	o := fastOptions(2)
	c := connect(t, srv, o)
	changed := o
	changed.Password = "new"
	if err := c.Update(changed); !errors.Is(err, fleare.ErrNotInPlace) || strings.Contains(err.Error(), "new") && !strings.Contains(err.Error(), "connections") {
		t.Fatalf("password change: %v", err)
	}
	changed = o
	changed.Username = "someone"
	if err := c.Update(changed); !errors.Is(err, fleare.ErrNotInPlace) || !strings.Contains(err.Error(), "Username") {
		t.Fatalf("username change: %v", err)
	}
	changed = o
	changed.ConnectTimeout = -1
	if err := c.Update(changed); err == nil || !strings.Contains(err.Error(), "ConnectTimeout") {
		t.Fatalf("invalid update: %v", err)
	}
	changed = o
	changed.Dialer = nil
	changed.PasswordFunc = func() (string, error) { return testPass, nil }
	if err := c.Update(changed); !errors.Is(err, fleare.ErrNotInPlace) {
		t.Fatalf("PasswordFunc added: %v", err)
	}
	grown := o
	grown.PoolSize = 5
	grown.MaxQueue = 7
	if err := c.Update(grown); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitConns(testCtx(t), 5); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Desired != 5 {
		t.Fatalf("Stats = %+v", s)
	}
}

// Close lets requests in flight finish while its context lasts.
func TestClientCloseDrains(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Latency: 100 * time.Millisecond})
	c := connect(t, srv, plainOptions(2)) // pipelined: TestPipelineCloseDrains
	ctx := testCtx(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- c.Ping(ctx) }()
	}
	waitStats(t, c, "2 in use", func(s fleare.Stats) bool { return s.InUse == 2 })
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("in-flight request failed during a graceful Close: %v", err)
		}
	}
	if err := srv.WaitConns(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// When Close's context ends, requests still in flight are cut off (with a
// connection error, not ErrClosed), waiters fail with ErrClosed, and Close
// says how many it forced.
func TestClientCloseForces(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Latency: 5 * time.Second})
	log := newEventLog()
	o := plainOptions(2) // pipelined: TestPipelineCloseForced
	o.OnEvent = log.record
	c := connect(t, srv, o)
	ctx := testCtx(t)
	inflight, waiting := make(chan error, 2), make(chan error, 3)
	for range 2 {
		go func() { inflight <- c.Ping(ctx) }()
	}
	waitStats(t, c, "2 in use", func(s fleare.Stats) bool { return s.InUse == 2 })
	for range 3 {
		go func() { waiting <- c.Ping(ctx) }()
	}
	waitStats(t, c, "3 waiting", func(s fleare.Stats) bool { return s.Waiting == 3 })

	closeCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Close(closeCtx)
	var ce *fleare.CloseError
	if !errors.As(err, &ce) || ce.Forced != 2 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	for range 3 {
		if err := <-waiting; !errors.Is(err, fleare.ErrClosed) {
			t.Fatalf("waiter: %v", err)
		}
	}
	for range 2 {
		if err := <-inflight; errors.Is(err, fleare.ErrClosed) || !errors.Is(err, fleare.ErrBroken) {
			t.Fatalf("in-flight request: %v", err)
		}
	}
	evs := log.snapshot()
	if evs[len(evs)-1].Type != fleare.EventClose || c.State() != fleare.StateDisconnected {
		t.Fatalf("events end with %v, state %v", evs[len(evs)-1], c.State())
	}
	if s := c.Stats(); s.ClosedForced != 2 || s.Open != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestClientEvents(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	log := newEventLog()
	o := fastOptions(1)
	o.OnEvent = log.record
	c := connect(t, srv, o)
	srv.CloseClientConnections()
	log.waitFor(t, "reconnect", func(evs []fleare.Event) bool { return count(evs, fleare.EventConnected) == 2 })
	if err := c.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range log.snapshot() {
		s := string(e.Type)
		if e.Type == fleare.EventStateChanged {
			s += "(" + e.State.String() + ")"
		}
		got = append(got, s)
		if e.Addr != srv.Addr() || e.Time.IsZero() {
			t.Errorf("event %v lacks address or time", e)
		}
		if e.Type == fleare.EventError && e.Err == nil {
			t.Errorf("error event without Err")
		}
	}
	want := []string{
		"connecting", "stateChanged(connecting)", "connected", "stateChanged(connected)",
		"error", "disconnected", "connecting", "stateChanged(connecting)", "connected", "stateChanged(connected)",
		"stateChanged(disconnecting)", "stateChanged(disconnected)", "close",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
}

// Several clients connecting at once to a strict server (which strands any
// connection arriving during another handshake): the process-wide gate
// makes every dial wait its turn, so none is stranded.
func TestSequentialDialsAcrossClients(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Strict: true})
	o := fastOptions(5)
	o.MaxRetries = -1 // any stranded dial would fail Connect
	o.ConnectTimeout = 2 * time.Second
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	clients := make([]*fleare.Client, 4)
	for i := range clients {
		clients[i] = newClient(t, srv, o)
	}
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
	for _, c := range clients { // and growing, all at once
		if err := c.Resize(8); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitConns(testCtx(t), 32); err != nil {
		t.Fatal(err)
	}
	if srv.Stranded() != 0 {
		t.Fatalf("%d connections stranded", srv.Stranded())
	}
}

// The strict server does catch parallel dials: opened without the gate,
// simultaneous connects get stranded.
func TestStrictServerCatchesParallelDials(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Strict: true})
	silent := rawConn(t, srv) // a handshake in progress
	defer silent.Close()
	if err := srv.Wait(testCtx(t), func() bool { return srv.Accepted() == 1 }); err != nil {
		t.Fatal(err)
	}
	o := fastOptions(1)
	o.Username, o.Password = "", ""
	o.ConnectTimeout = 50 * time.Millisecond
	_, err := fleare.Dial(testCtx(t), srv.Host(), srv.Port(), o)
	if !errors.Is(err, fleare.ErrTimeout) || srv.Stranded() != 1 {
		t.Fatalf("dial during a handshake: %v, stranded %d", err, srv.Stranded())
	}
}
