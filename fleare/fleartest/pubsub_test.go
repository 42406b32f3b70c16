package fleartest

import (
	"testing"
	"time"
)

// Pub/sub as the transcript of the real server shows it: no reply to
// SUBSCRIBE or UNSUBSCRIBE, pushes with the topic set and the message
// JSON-quoted unless it is JSON, commands still answered on a subscribed
// connection, and pushes interleaved with replies.
func TestPubSub(t *testing.T) {
	s := NewServer(t, Options{Users: users})
	sub, pub := dialRaw(t, s), dialRaw(t, s)
	sub.call("auth", "root", "s3cret")
	pub.call("auth", "root", "s3cret")

	sub.send("subscribe", "news")
	if err := s.Wait(ctxT(t), func() bool { return s.Subscribers("news") == 1 }); err != nil {
		t.Fatal(err)
	}
	if st, res := pub.call("publish", "news", "hello"); st != "Ok" || res != "" {
		t.Fatalf("publish = %s %q", st, res)
	}
	expectPush(t, sub, "news", `"hello"`)
	pub.call("PUBLISH", "news", `{"a":1}`)
	expectPush(t, sub, "news", `{"a":1}`)

	// A PING on the subscribed connection is answered, then a push
	// published after it arrives behind the reply.
	sub.send("PING")
	for deadline := time.Now().Add(10 * time.Second); s.Requests() < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the PING was not answered")
		}
	}
	pub.call("publish", "news", "later")
	r, err := sub.recv()
	if err != nil || r.GetTopic() != "" || string(r.GetResult()) != "PONG " {
		t.Fatalf("PING while subscribed: %v, %v", r, err)
	}
	expectPush(t, sub, "news", `"later"`)

	if st, res := pub.call("publish", "news"); st != "Error" || res != errPublishArgs {
		t.Fatalf("publish with one arg = %s %q", st, res)
	}
	sub.send("unsubscribe", "news")
	if err := s.Wait(ctxT(t), func() bool { return s.Subscribers("news") == 0 }); err != nil {
		t.Fatal(err)
	}
	pub.call("publish", "news", "unheard")
	if st, res := sub.call("PING", "x"); st != "Ok" || res != "PONG x" {
		t.Fatalf("after unsubscribe, PING = %s %q (a push leaked?)", st, res)
	}

	// A subscriber that goes away is forgotten.
	sub.send("subscribe", "a", "b")
	if err := s.Wait(ctxT(t), func() bool { return s.Subscribers("b") == 1 }); err != nil {
		t.Fatal(err)
	}
	sub.nc.Close()
	if err := s.Wait(ctxT(t), func() bool { return s.Subscribers("a")+s.Subscribers("b") == 0 }); err != nil {
		t.Fatal(err)
	}
}

func expectPush(t *testing.T, r *raw, topic, result string) {
	t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := r.recv()
	if err != nil {
		t.Fatalf("waiting for a push on %q: %v", topic, err)
	}
	if resp.GetTopic() != topic || string(resp.GetResult()) != result || resp.GetStatus() != "Ok" || resp.GetClientId() == "" {
		t.Fatalf("push = %v, want topic %q result %q", resp, topic, result)
	}
}
