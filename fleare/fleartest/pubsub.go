package fleartest

import (
	"encoding/json"
	"strings"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// Pub/sub as the real server does it: SUBSCRIBE and UNSUBSCRIBE get no
// reply; PUBLISH is answered "Ok" with an empty result, and every connection
// subscribed to the channel receives a push, a Response whose topic is the
// channel, whose result is the message (JSON-quoted unless it is valid JSON)
// and whose client id is the subscriber's. Pushes interleave with the
// replies to the subscriber's own commands.

const errPublishArgs = "missing topic or message for publish" // no trailing newline, as on the real server

// pubsub runs SUBSCRIBE, UNSUBSCRIBE and PUBLISH. ok is false for any other
// command; an empty status means no reply. UNSUBSCRIBE without a channel
// leaves every channel (the transcript of the real server does not cover
// that case).
func (s *Server) pubsub(sc *serverConn, cmd *wire.Command) (status string, result []byte, ok bool) {
	args := cmd.GetArgs()
	switch strings.ToUpper(cmd.GetCommand()) {
	case "SUBSCRIBE":
		s.mu.Lock()
		for _, ch := range args {
			s.subscribeLocked(sc, ch)
		}
		s.signalLocked()
		s.mu.Unlock()
		return "", nil, true
	case "UNSUBSCRIBE":
		s.mu.Lock()
		s.unsubscribeLocked(sc, args)
		s.signalLocked()
		s.mu.Unlock()
		return "", nil, true
	case "PUBLISH":
		if len(args) != 2 {
			return "Error", []byte(errPublishArgs), true
		}
		s.publish(args[0], args[1])
		return "Ok", nil, true
	}
	return "", nil, false
}

func (s *Server) subscribeLocked(sc *serverConn, ch string) {
	if s.topics == nil {
		s.topics = make(map[string]map[*serverConn]struct{})
	}
	if s.topics[ch] == nil {
		s.topics[ch] = make(map[*serverConn]struct{})
	}
	s.topics[ch][sc] = struct{}{}
	if sc.topics == nil {
		sc.topics = make(map[string]struct{})
	}
	sc.topics[ch] = struct{}{}
}

// unsubscribeLocked removes sc from the channels given, or from all of
// them when there are none.
func (s *Server) unsubscribeLocked(sc *serverConn, chans []string) {
	if len(chans) == 0 {
		for ch := range sc.topics {
			chans = append(chans, ch)
		}
	}
	for _, ch := range chans {
		delete(sc.topics, ch)
		delete(s.topics[ch], sc)
		if len(s.topics[ch]) == 0 {
			delete(s.topics, ch)
		}
	}
}

// publish pushes msg to every subscriber of ch.
func (s *Server) publish(ch, msg string) {
	s.mu.Lock()
	subs := make([]*serverConn, 0, len(s.topics[ch]))
	for sc := range s.topics[ch] {
		subs = append(subs, sc)
	}
	s.mu.Unlock()
	result := []byte(msg)
	if !json.Valid(result) {
		result, _ = json.Marshal(msg) // a string always marshals
	}
	for _, sc := range subs {
		sc.wmu.Lock()
		_ = s.writeResponse(sc, &wire.Response{ClientId: sc.id, Topic: ch, Status: "Ok", Result: result})
		sc.wmu.Unlock()
	}
}

// Subscribers returns the number of connections subscribed to ch. Wait
// sees it change.
func (s *Server) Subscribers(ch string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.topics[ch])
}
