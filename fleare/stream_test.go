package fleare_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// Send and Receive drive a subscribed connection: SUBSCRIBE gets no reply,
// pushes come with their topic, a PING's reply comes between them, and the
// two calls run at the same time from two goroutines.
func TestSendReceive(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	ctx := testCtx(t)
	sub, err := fleare.Dial(ctx, srv.Host(), srv.Port(), fastOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	pub, err := fleare.Dial(ctx, srv.Host(), srv.Port(), fastOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	msgs := make(chan fleare.Message, 16)
	errs := make(chan error, 1)
	go func() {
		for {
			m, err := sub.Receive(context.Background())
			if err != nil {
				errs <- err
				close(msgs)
				return
			}
			msgs <- m
		}
	}()
	if err := sub.Send(ctx, "SUBSCRIBE", "news"); err != nil {
		t.Fatal(err)
	}
	if err := sub.Send(ctx, "PING", "ready"); err != nil {
		t.Fatal(err)
	}
	if m := <-msgs; m.Topic != "" || string(m.Result) != "PONG ready" || m.ClientID != sub.ClientID() {
		t.Fatalf("PING reply = %+v", m)
	}
	if _, err := pub.Do(ctx, "PUBLISH", "news", "hello"); err != nil {
		t.Fatal(err)
	}
	if m := <-msgs; m.Topic != "news" || string(m.Result) != `"hello"` || m.Status != "Ok" {
		t.Fatalf("push = %+v (%s)", m, m.Result)
	}
	if err := sub.Send(ctx, ""); err == nil {
		t.Fatal("an empty command was sent")
	}

	// Close ends a waiting Receive; the connection is then broken.
	sub.Close()
	if _, ok := <-msgs; ok {
		t.Fatal("a message after Close")
	}
	var ce *fleare.ConnError
	if err := <-errs; !errors.As(err, &ce) {
		t.Fatalf("Receive after Close: %v", err)
	}
	if err := sub.Send(ctx, "PING"); !errors.Is(err, fleare.ErrBroken) {
		t.Fatalf("Send on a closed connection: %v", err)
	}
}

// A Receive whose context ends returns and closes the connection: the
// frame it was reading may be cut.
func TestReceiveContext(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
	c, err := fleare.Dial(testCtx(t), srv.Host(), srv.Port(), fastOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Receive(ctx); !errors.Is(err, fleare.ErrTimeout) || !c.Broken() {
		t.Fatalf("Receive past its deadline: %v (broken %v)", err, c.Broken())
	}
	c2, err := fleare.Dial(testCtx(t), srv.Host(), srv.Port(), fastOptions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c2.Receive(ctx); err == nil || !c2.Broken() {
		t.Fatalf("Receive with a canceled context: %v", err)
	}
}
