package proxy

import (
	"fmt"
	"sync/atomic"
	"time"
)

// EventKind names what an Event reports.
type EventKind string

const (
	// EventClientLimit: a connection arrived while MaxClients were open;
	// it was refused.
	EventClientLimit EventKind = "client.limit"
	// EventAuthFailed: a client's login was refused (wrong or missing
	// credentials, a malformed auth frame, or no auth frame within
	// AuthTimeout); its connection was closed.
	EventAuthFailed EventKind = "auth.failed"
	// EventClientDropped: a logged-in client was closed by a limit: it
	// trickled a frame past ReadTimeout, left its replies unread past
	// WriteTimeout, or sent a frame of an invalid length.
	EventClientDropped EventKind = "client.dropped"
)

// Event is something an operator may want to know about one client. It
// never holds a password.
type Event struct {
	Kind EventKind
	Time time.Time
	// Remote is the client's address (ip:port).
	Remote string
	// Username is the name the client logged in, or tried to log in, with;
	// "" when it gave none.
	Username string
	// Reason says what happened, e.g. "wrong password" or
	// "max_clients (2) reached".
	Reason string
}

func (e Event) String() string {
	user := e.Username
	if user == "" {
		user = "-"
	}
	return fmt.Sprintf("%s remote=%s user=%s: %s", e.Kind, e.Remote, user, e.Reason)
}

// Stats is a snapshot of a Proxy's gauges and cumulative counters.
type Stats struct {
	// Clients is the number of client connections open now, logged in or
	// not (what MaxClients bounds).
	Clients int
	// Subscribers is the number of clients holding a dedicated pub/sub
	// connection to the server now.
	Subscribers int
	// Listeners is the number of listeners accepting now.
	Listeners int
	// Accepted counts client connections accepted.
	Accepted uint64
	// Requests counts request frames read from logged-in clients.
	Requests uint64
	// Errors counts requests the proxy answered with an "Error" of its
	// own rather than the server's: undecodable frames, refused commands,
	// and requests the backend failed (also counted in BackendErrors).
	Errors uint64
	// BackendErrors counts requests that failed between the proxy and the
	// server (no connection, timeout...), answered with an "Error".
	BackendErrors uint64
	// AuthFailures counts refused logins, auth timeouts included.
	AuthFailures uint64
	// LimitHits counts connections refused because MaxClients were open.
	LimitHits uint64
	// Dropped counts logged-in clients the proxy closed, by reason.
	Dropped Drops
}

// Drops counts client connections the proxy closed, by reason.
type Drops struct {
	// ReadTimeout: a request frame did not arrive whole within ReadTimeout.
	ReadTimeout uint64
	// WriteTimeout: the client left its replies unread past WriteTimeout.
	WriteTimeout uint64
	// BadFrame: the client sent a frame of length zero or over 10 MiB
	// (the real server closes such a connection too).
	BadFrame uint64
	// Forced: the client still had requests in flight when a Shutdown's
	// context ended.
	Forced uint64
}

// counters are the cumulative counts behind Stats.
type counters struct {
	accepted, requests, errors, backendErrors atomic.Uint64
	authFailures, limitHits                   atomic.Uint64
	readTimeouts, writeTimeouts, badFrames    atomic.Uint64
	forced                                    atomic.Uint64
}

// Stats returns a snapshot of the proxy's gauges and counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	clients, listeners := len(p.sessions), len(p.listeners)
	p.mu.Unlock()
	c := &p.counters
	return Stats{
		Clients:       clients,
		Subscribers:   int(p.subscribers.Load()),
		Listeners:     listeners,
		Accepted:      c.accepted.Load(),
		Requests:      c.requests.Load(),
		Errors:        c.errors.Load(),
		BackendErrors: c.backendErrors.Load(),
		AuthFailures:  c.authFailures.Load(),
		LimitHits:     c.limitHits.Load(),
		Dropped: Drops{
			ReadTimeout:  c.readTimeouts.Load(),
			WriteTimeout: c.writeTimeouts.Load(),
			BadFrame:     c.badFrames.Load(),
			Forced:       c.forced.Load(),
		},
	}
}

// emit delivers an event to the OnEvent of the settings in force.
func (p *Proxy) emit(kind EventKind, remote, user, reason string) {
	if f := p.cfg.Load().OnEvent; f != nil {
		f(Event{Kind: kind, Time: time.Now(), Remote: remote, Username: user, Reason: reason})
	}
}
