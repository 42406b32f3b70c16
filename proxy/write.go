package proxy

import (
	"fmt"
	"runtime"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// flushAt is how many bytes of replies the writer gathers before writing
// them even though more are ready.
const flushAt = 64 << 10

// call is one entry of a session's reply queue: the reply to a request, a
// push, or the end marker.
type call struct {
	done     chan struct{} // closed once the fields below are set
	status   string
	result   []byte
	clientID string
	topic    string
	end      bool // the session is ending: write what precedes and stop
}

// closedChan is the done channel of calls complete when queued.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// set fills c from r as the client must see it: where the server's reply
// carried a client id (its pooled connection's), the client's own replaces
// it; where it carried none, none. The reply's bytes count toward the
// session's buffered bytes until written.
func (c *call) set(s *session, r fleare.Reply) {
	c.status, c.result, c.clientID = r.Status, r.Result, replyClientID(s, r)
	s.buffered.Add(int64(len(c.result)))
}

// replyClientID is the client id a reply to s carries: its own where the
// server's reply carried one, none where it carried none.
func replyClientID(s *session, r fleare.Reply) string {
	if r.ClientID != "" {
		return s.id
	}
	return ""
}

// writeLoop writes replies in queue order until the end marker, or until
// the connection fails. Replies that are ready together are written
// together; the writer writes what it holds before waiting for anything
// (once the goroutines ready to complete a call have run: see ready).
func (s *session) writeLoop() {
	for {
		var c *call
		select {
		case c = <-s.queue:
		default:
			if !s.flush() {
				return
			}
			select {
			case c = <-s.queue:
			case <-s.broken:
				return
			}
		}
		if c.end {
			s.flush()
			return
		}
		if !s.ready(c) {
			if !s.flush() {
				return
			}
			select {
			case <-c.done:
			case <-s.broken:
				return
			}
		}
		s.append(c)
		<-s.slots
		if len(s.wbuf) >= flushAt && !s.flush() {
			return
		}
	}
}

// ready reports whether c is complete. With replies waiting to be
// written, it first lets the goroutines that are ready run: the backend
// completes a client's requests in bursts, and the workers woken by one
// then complete their calls, so that their replies go out in the same
// write (for a client pipelining 16 PINGs, about 13 replies per write
// rather than 2).
func (s *session) ready(c *call) bool {
	if isDone(c) {
		return true
	}
	if len(s.wbuf) == 0 {
		return false
	}
	runtime.Gosched()
	return isDone(c)
}

// append encodes c's reply into wbuf.
func (s *session) append(c *call) {
	s.resp.ClientId, s.resp.Topic, s.resp.Status, s.resp.Result = c.clientID, c.topic, c.status, c.result
	s.wbuf = s.appendReply(s.wbuf, &s.resp)
	s.wbytes += int64(len(c.result))
	s.wcalls++
}

// appendReply appends r, framed, to dst, and clears r's result. A reply
// too large with the client's id, or not encodable, is replaced by an
// "Error": the client still gets one reply for its request.
func (s *session) appendReply(dst []byte, r *wire.Response) []byte {
	out, err := wire.AppendResponse(dst, r)
	if err != nil {
		r.Status, r.Topic = "Error", ""
		r.Result = fmt.Appendf(nil, "ProxyError: the server's reply could not be relayed: %v\n", err)
		out, _ = wire.AppendResponse(dst, r)
	}
	r.Result = nil
	return out
}

// flush writes wbuf, and then counts the calls it held as written. It
// reports false when the connection failed (and is then broken).
func (s *session) flush() bool {
	if !s.writeOut(s.wbuf) {
		return false
	}
	s.wbuf = s.wbuf[:0]
	if cap(s.wbuf) > keepBufSize {
		s.wbuf = nil
	}
	if s.wbytes > 0 {
		s.unbuffer(s.wbytes)
		s.wbytes = 0
	}
	if s.wcalls > 0 {
		s.pending.Add(-s.wcalls)
		s.wcalls = 0
	}
	return true
}

// writeOut writes b to the client. A client whose socket takes no byte for
// WriteTimeout is dropped; one that reads slowly but steadily is not. It
// reports false when the connection failed (and is then broken).
func (s *session) writeOut(b []byte) bool {
	for len(b) > 0 {
		_ = s.nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		n, err := s.nc.Write(b)
		b = b[n:]
		if err == nil {
			continue
		}
		if isTimeout(err) && n > 0 {
			continue // progress: give it another WriteTimeout
		}
		if isTimeout(err) {
			s.p.counters.writeTimeouts.Add(1)
			s.p.emit(EventClientDropped, s.remote, s.user,
				fmt.Sprintf("replies left unread for %v", s.cfg.WriteTimeout))
		}
		s.breakConn()
		return false
	}
	return true
}
