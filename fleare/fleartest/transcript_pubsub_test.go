package fleartest

import (
	"strings"
	"testing"
)

// replayPubSub replays the pub/sub cases with a subscriber S and a
// publisher P. "No reply" is checked without waiting: S sends PING right
// after, and the next frame it reads must be the PONG.
func replayPubSub(t *testing.T, cases []transcriptCase) {
	s := NewServer(t, Options{Users: map[string]string{tUser: tPass}})
	login := func() (*raw, string) {
		r := dialRaw(t, s)
		r.send("auth", tUser, tPass)
		return r, mustRecv(t, r).GetClientId()
	}
	S, sID := login()
	P, pID := login()
	noReply := func(label string) {
		t.Helper()
		S.send("PING", "after")
		if got := mustRecv(t, S); got.GetTopic() != "" || string(got.GetResult()) != "PONG after" {
			t.Errorf("%s: S got %v before the PONG", label, got)
		}
	}
	push := func(label, topic, result string) {
		t.Helper()
		got := mustRecv(t, S)
		if got.GetStatus() != "Ok" || got.GetTopic() != topic || string(got.GetResult()) != result || got.GetClientId() != sID {
			t.Errorf("%s: S received %v, want topic %q result %q client_id %q", label, got, topic, result, sID)
		}
	}
	publish := func(c transcriptCase, args ...string) {
		t.Helper()
		P.send("PUBLISH", args...)
		expectReply(t, c, P, pID, mustRecv(t, P))
	}
	runs := map[string]func(transcriptCase){
		"S: subscribe news": func(c transcriptCase) {
			S.send("SUBSCRIBE", "news")
			noReply(c.label)
		},
		"P: publish news hello": func(c transcriptCase) { publish(c, "news", "hello") },
		"S receives": func(c transcriptCase) {
			push(c.label, c.get(t, "topic", 0), c.get(t, "result", 0))
		},
		`P: publish news {"a":1}`: func(c transcriptCase) {
			P.send("PUBLISH", "news", `{"a":1}`)
			got := mustRecv(t, P)
			if got.GetStatus() != c.get(t, "status", 0) || string(got.GetResult()) != c.get(t, "result", 0) {
				t.Errorf("%s: P got %v", c.label, got)
			}
			push(c.label, c.get(t, "topic", 0), c.get(t, "result", 1))
		},
		"S: PING while subscribed": func(c transcriptCase) {
			S.send("PING")
			expectReply(t, c, S, sID, mustRecv(t, S))
		},
		"S: subscribe a b": func(c transcriptCase) {
			S.send("SUBSCRIBE", "a", "b")
			noReply(c.label)
			P.send("PUBLISH", "a", "to-a")
			mustRecv(t, P)
			push(c.label, "a", `"to-a"`)
		},
		"S: unsubscribe news": func(c transcriptCase) {
			S.send("UNSUBSCRIBE", "news")
			noReply(c.label)
			for _, ch := range []string{"news", "a"} { // the push to "a" must be the next thing S reads
				P.send("PUBLISH", ch, "after-unsubscribe")
				mustRecv(t, P)
			}
			push(c.label, "a", `"after-unsubscribe"`)
		},
		"P: publish news (1 arg)": func(c transcriptCase) {
			if !strings.HasSuffix(c.text, "(no trailing newline)") {
				t.Fatalf("unexpected transcript line %q", c.text)
			}
			publish(c, "news")
		},
		`S subscribed to "self": PING, then another client publishes to "self"`: func(c transcriptCase) {
			S.send("SUBSCRIBE", "self")
			S.send("PING")
			if got := mustRecv(t, S); got.GetTopic() != "" || string(got.GetResult()) != "PONG " {
				t.Fatalf("%s: S got %v, want the PONG", c.label, got)
			}
			P.send("PUBLISH", "self", "hi")
			mustRecv(t, P)
			push(c.label, "self", `"hi"`)
		},
	}
	for _, c := range cases {
		run, found := runs[c.label]
		if !found {
			t.Errorf("pub/sub case %q has no replay", c.label)
			continue
		}
		run(c)
	}
}
