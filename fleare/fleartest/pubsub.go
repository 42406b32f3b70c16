package fleartest

import (
	"encoding/json"
	"sync"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// pubsub holds the channel subscriptions, as the real server serves them:
// SUBSCRIBE and UNSUBSCRIBE get no reply; a PUBLISH is answered "Ok" and
// pushed to each subscriber as a reply whose topic is the channel, the
// message JSON-quoted unless it is valid JSON; pushes may arrive between a
// command and its reply on a subscribed connection.
type pubsub struct {
	mu   sync.Mutex
	subs map[string]map[*serverConn]struct{} // guarded by mu: channel -> subscribers
}

func newPubsub() *pubsub { return &pubsub{subs: make(map[string]map[*serverConn]struct{})} }

func (p *pubsub) subscribe(sc *serverConn, channels []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range channels {
		if p.subs[ch] == nil {
			p.subs[ch] = make(map[*serverConn]struct{})
		}
		p.subs[ch][sc] = struct{}{}
	}
}

// unsubscribe removes sc from channels, or from every channel when none
// is named (the transcript of the real server does not cover that case).
func (p *pubsub) unsubscribe(sc *serverConn, channels []string) {
	if len(channels) == 0 {
		p.unsubscribeAll(sc)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range channels {
		delete(p.subs[ch], sc)
		if len(p.subs[ch]) == 0 {
			delete(p.subs, ch)
		}
	}
}

func (p *pubsub) unsubscribeAll(sc *serverConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for ch, set := range p.subs {
		delete(set, sc)
		if len(set) == 0 {
			delete(p.subs, ch)
		}
	}
}

func (p *pubsub) subscribers(ch string) []*serverConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*serverConn, 0, len(p.subs[ch]))
	for sc := range p.subs[ch] {
		out = append(out, sc)
	}
	return out
}

// count returns the number of subscribers of ch.
func (p *pubsub) count(ch string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs[ch])
}

// Subscribers returns the number of connections subscribed to ch. Wait
// sees it change.
func (s *Server) Subscribers(ch string) int { return s.subs.count(ch) }

func cmdSubscribe(s *Server, sc *serverConn, args []string) result {
	s.subs.subscribe(sc, args)
	s.signal()
	return result{silent: true}
}

func cmdUnsubscribe(s *Server, sc *serverConn, args []string) result {
	s.subs.unsubscribe(sc, args)
	s.signal()
	return result{silent: true}
}

func cmdPublish(s *Server, _ *serverConn, args []string) result {
	if len(args) != 2 {
		return result{err: errPublishArgs, bare: true}
	}
	msg := args[1]
	if !json.Valid([]byte(msg)) {
		b, _ := json.Marshal(msg)
		msg = string(b)
	}
	for _, sub := range s.subs.subscribers(args[0]) {
		_ = s.writeReply(sub, &wire.Response{ClientId: sub.id, Topic: args[0], Status: "Ok", Result: []byte(msg)})
	}
	return ok("")
}
