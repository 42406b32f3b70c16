package fleare_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/wire"
)

func dialT(t *testing.T, srv *fleartest.Server, o fleare.Options) *fleare.Conn {
	t.Helper()
	c, err := fleare.Dial(testCtx(t), srv.Host(), srv.Port(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDial(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := dialT(t, srv, fastOptions(1))
	if !strings.Contains(c.ClientID(), "127.0.0.1:") || c.Addr() != srv.Addr() {
		t.Errorf("ClientID() = %q, Addr() = %q", c.ClientID(), c.Addr())
	}
	res, err := c.Do(testCtx(t), "PING", "hello")
	if err != nil || string(res) != "PONG hello" {
		t.Fatalf("PING = %q, %v", res, err)
	}
	_, err = c.Do(testCtx(t), "NOPE")
	var se *fleare.ServerError
	if !errors.As(err, &se) || se.Kind() != "InvalidCommandError" || strings.HasSuffix(se.Message, "\n") {
		t.Fatalf("unknown command: %#v", err)
	}
	if c.Broken() {
		t.Fatal("an Error reply broke the connection")
	}
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(testCtx(t))
	if err != nil || st.ServerStatus != "running" || st.ShardCount == 0 || st.UpTime.IsZero() {
		t.Fatalf("Status = %+v, %v", st, err)
	}
}

func TestDialAuthFailure(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: map[string]string{testUser: "other"}})
	_, err := fleare.Dial(testCtx(t), srv.Host(), srv.Port(), fastOptions(1))
	var ae *fleare.AuthError
	if !errors.As(err, &ae) || !errors.Is(err, fleare.ErrAuth) {
		t.Fatalf("err = %v, want an AuthError", err)
	}
	if ae.Username != testUser || !strings.Contains(ae.Message, "incorrect") || ae.Addr != srv.Addr() {
		t.Errorf("AuthError = %+v", ae)
	}
	if strings.Contains(err.Error(), testPass) {
		t.Fatal("error text holds the password")
	}
	if srv.Conns() != 0 {
		t.Fatal("server still counts the refused connection")
	}
}

// fakeHost is the host given with a fakeServer's options: its Dialer
// ignores the address, which only keys the dial gate.
const fakeHost = "127.0.0.1"

// fakeServer answers a Dialer-made connection with the frames reply returns
// for each request it reads (auth first); a nil frame hangs up.
func fakeServer(t *testing.T, reply func(n int, cmd *wire.Command) [][]byte) fleare.Options {
	o := fastOptions(1)
	o.Dialer = func(ctx context.Context, _, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer server.Close()
			br := bufio.NewReader(server)
			for n := 0; ; n++ {
				body, err := wire.ReadFrame(br, nil)
				if err != nil {
					return
				}
				var cmd wire.Command
				if err := proto.Unmarshal(body, &cmd); err != nil {
					return
				}
				for _, f := range reply(n, &cmd) {
					if f == nil { // hang up
						return
					}
					if _, err := server.Write(f); err != nil {
						return
					}
				}
			}
		}()
		t.Cleanup(func() { client.Close(); <-done })
		return client, nil
	}
	return o
}

func respFrame(t *testing.T, status, result string) []byte {
	b, err := wire.AppendFrame(nil, &wire.Response{Status: status, Result: []byte(result)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAuthErrorRedactsEchoedPassword(t *testing.T) {
	o := fakeServer(t, func(_ int, cmd *wire.Command) [][]byte {
		return [][]byte{respFrame(t, "Error", "bad password "+strings.Join(cmd.GetArgs(), " ")+"\n")}
	})
	_, err := fleare.Dial(testCtx(t), fakeHost, 1, o)
	if !errors.Is(err, fleare.ErrAuth) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), testPass) || !strings.Contains(err.Error(), "<secret>") {
		t.Fatalf("password not masked: %q", err)
	}
}

func TestConnInvalidReplies(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		check func(error) bool
	}{
		{"zero length", []byte{0, 0, 0, 0}, func(err error) bool { var fe *fleare.FrameError; return errors.As(err, &fe) }},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}, func(err error) bool { var fe *fleare.FrameError; return errors.As(err, &fe) }},
		{"truncated", []byte{0, 0, 0, 9, 1}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"not a response", []byte{0, 0, 0, 2, 0xff, 0xff}, func(err error) bool { return strings.Contains(err.Error(), "invalid response") }},
		{"pub/sub push", nil, func(err error) bool { return strings.Contains(err.Error(), "pub/sub") }},
		{"stray frame with the reply", append(respFrame(t, "Ok", "PONG "), respFrame(t, "Ok", "PONG ")...),
			func(err error) bool {
				var ce *fleare.ConnError
				return errors.As(err, &ce) && ce.Sent && strings.Contains(err.Error(), "stray")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fakeServer(t, func(n int, _ *wire.Command) [][]byte {
				if n == 0 {
					return [][]byte{respFrame(t, "Ok", "Connected")}
				}
				if tt.frame == nil {
					b, _ := wire.AppendFrame(nil, &wire.Response{Topic: "news", Status: "Ok", Result: []byte("x")})
					return [][]byte{b}
				}
				return [][]byte{tt.frame, nil}
			})
			c, err := fleare.Dial(testCtx(t), fakeHost, 1, o)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.Do(testCtx(t), "PING")
			if !errors.Is(err, fleare.ErrBroken) || !tt.check(err) {
				t.Fatalf("err = %v", err)
			}
			if !c.Broken() {
				t.Fatal("connection not marked broken")
			}
			if _, err := c.Do(testCtx(t), "PING"); !fleare.SafeToRetry(err) || !errors.Is(err, fleare.ErrBroken) {
				t.Fatalf("request on a broken conn: %v", err)
			}
		})
	}
}

func TestConnPipelineOrder(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := dialT(t, srv, fastOptions(1))
	var reqs []fleare.Request
	for i := range 50 {
		k, v := "k"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		reqs = append(reqs,
			fleare.Request{Command: "SET", Args: []string{k, v}},
			fleare.Request{Command: "GET", Args: []string{k}},
			fleare.Request{Command: "BOGUS" + strconv.Itoa(i)},
			fleare.Request{Command: "PING", Args: []string{strconv.Itoa(i)}},
		)
	}
	res, err := c.Pipeline(testCtx(t), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		r := res[4*i : 4*i+4]
		var se *fleare.ServerError
		if r[0].Err != nil || string(r[1].Value) != "v"+strconv.Itoa(i) ||
			!errors.As(r[2].Err, &se) || !strings.Contains(se.Message, `"BOGUS`+strconv.Itoa(i)+`"`) ||
			string(r[3].Value) != "PONG "+strconv.Itoa(i) {
			t.Fatalf("replies %d out of order or wrong: %+v", i, r)
		}
	}
	if _, err := c.Pipeline(testCtx(t), []fleare.Request{{Command: "PING"}, {Command: ""}}); err == nil {
		t.Fatal("pipeline with an empty command accepted")
	}
	if res, err := c.Do(testCtx(t), "PING"); err != nil || string(res) != "PONG " {
		t.Fatalf("conn unusable after a refused pipeline: %q %v", res, err)
	}
}

func TestConnRefusesUnsendableRequests(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := dialT(t, srv, fastOptions(1))
	ctx := testCtx(t)
	if _, err := c.Do(ctx, ""); err == nil {
		t.Fatal("empty command sent")
	}
	if _, err := c.Do(ctx, "SET", "k", "\xff"); err == nil {
		t.Fatal("invalid UTF-8 sent")
	}
	var fe *fleare.FrameError
	if _, err := c.Do(ctx, "SET", "k", strings.Repeat("x", 10<<20)); !errors.As(err, &fe) {
		t.Fatalf("oversized request: %v", err)
	}
	if c.Broken() || srv.Requests() != 0 {
		t.Fatalf("broken=%v, server saw %d requests", c.Broken(), srv.Requests())
	}
	if _, err := c.Do(ctx, "PING"); err != nil {
		t.Fatal(err)
	}
}

// A timed-out request closes its connection, so its late reply can never be
// read by the next request.
func TestConnTimeoutClosesConnection(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c := dialT(t, srv, fastOptions(1))
	srv.SetLatency(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, "PING", "late")
	var te *fleare.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, fleare.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !te.Sent || te.Op != "read" {
		t.Fatalf("err = %#v", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Fatalf("timeout honoured after %v", d)
	}
	if !c.Broken() || fleare.SafeToRetry(err) {
		t.Fatalf("broken=%v safe=%v", c.Broken(), fleare.SafeToRetry(err))
	}
}

// A canceled request returns at once and leaves the connection usable: the
// next request reads and discards the abandoned reply first, and gets its
// own.
func TestConnCancel(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers, Latency: 500 * time.Millisecond})
	c := dialT(t, srv, fastOptions(1))
	ctx, cancel := context.WithCancel(testCtx(t))
	time.AfterFunc(20*time.Millisecond, cancel) // well before the reply
	_, err := c.Do(ctx, "PING", "abandoned")
	if !errors.Is(err, context.Canceled) || errors.Is(err, fleare.ErrBroken) || errors.Is(err, fleare.ErrClosed) || fleare.SafeToRetry(err) {
		t.Fatalf("err = %v", err)
	}
	if c.Broken() {
		t.Fatal("a canceled request broke the connection")
	}
	srv.SetLatency(0)
	res, err := c.Do(testCtx(t), "PING", "mine")
	if err != nil || string(res) != "PONG mine" {
		t.Fatalf("after cancel: %q, %v", res, err)
	}
	if srv.Accepted() != 1 {
		t.Fatalf("accepted %d connections", srv.Accepted())
	}
}

func TestConnConcurrentUseRefused(t *testing.T) {
	got, release := make(chan struct{}), make(chan struct{})
	o := fakeServer(t, func(n int, _ *wire.Command) [][]byte {
		if n == 1 {
			close(got)
			<-release
		}
		return [][]byte{respFrame(t, "Ok", "PONG ")}
	})
	c, err := fleare.Dial(testCtx(t), fakeHost, 1, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errc := make(chan error, 1)
	go func() { _, err := c.Do(context.Background(), "PING"); errc <- err }()
	<-got // the first request is on the wire
	if _, err := c.Do(context.Background(), "PING"); err == nil || !strings.Contains(err.Error(), "two goroutines") {
		t.Fatalf("concurrent use: %v", err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if c.Broken() {
		t.Fatal("refused concurrent use broke the connection")
	}
}

func TestDialTimeoutOnStalledServer(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	srv.StallNew(true)
	o := fastOptions(1)
	o.ConnectTimeout = 50 * time.Millisecond
	_, err := fleare.Dial(testCtx(t), srv.Host(), srv.Port(), o)
	var te *fleare.TimeoutError
	if !errors.As(err, &te) || te.Op != "auth" {
		t.Fatalf("err = %v", err)
	}
}

func TestDialValidation(t *testing.T) {
	_, err := fleare.Dial(testCtx(t), "", 70000, fleare.Options{ConnectTimeout: -1})
	for _, want := range []string{"host is empty", "port is 70000", "ConnectTimeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

func ExampleDial() {
	srv, err := fleartest.Start(fleartest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx := context.Background()
	c, err := fleare.Dial(ctx, srv.Host(), srv.Port(), fleare.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	res, err := c.Pipeline(ctx, []fleare.Request{
		{Command: "SET", Args: []string{"lang", "go"}},
		{Command: "GET", Args: []string{"lang"}},
		{Command: "PING", Args: []string{"done"}},
	})
	if err != nil {
		panic(err)
	}
	for _, r := range res {
		fmt.Printf("%q %v\n", r.Value, r.Err)
	}
	// Output:
	// "" <nil>
	// "go" <nil>
	// "PONG done" <nil>
}
