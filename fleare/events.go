package fleare

import (
	"fmt"
	"time"
)

// State is a Client's connection state.
type State int32

// The states of a Client, with the words the official Fleare clients use.
const (
	// StateDisconnected: before Connect, and after Close.
	StateDisconnected State = iota
	// StateConnecting: dialing with no connection open (at Connect, or
	// after every connection was lost).
	StateConnecting
	// StateConnected: at least one connection open.
	StateConnected
	// StateDisconnecting: Close is under way.
	StateDisconnecting
	// StateError: no connection open and 1+MaxRetries dials in a row
	// failed. Requests fail at once with ErrUnavailable; dialing goes on in
	// the background, and the first success moves to StateConnected.
	StateError
)

var stateNames = [...]string{"disconnected", "connecting", "connected", "disconnecting", "error"}

// String returns the state's word: disconnected, connecting, connected,
// disconnecting or error.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// MarshalText encodes the state as its word, for JSON and logs.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// EventType names a lifecycle event, with the names of the official clients.
type EventType string

// Event types. Events describe the Client as a whole, not single connections.
const (
	// EventConnecting: dialing starts with no connection open (at Connect,
	// or after the last connection was lost). Not repeated for each retry.
	EventConnecting EventType = "connecting"
	// EventConnected: the first connection is up (again, after a loss).
	EventConnected EventType = "connected"
	// EventDisconnected: the last open connection was closed because it
	// broke or timed out (a canceled request keeps its connection); dialing
	// resumes.
	EventDisconnected EventType = "disconnected"
	// EventError: a dial failed, or a connection broke, timed out or held
	// a stray reply. Err says why. Cancellations are not errors.
	EventError EventType = "error"
	// EventClose: Close has finished. Always the last event.
	EventClose EventType = "close"
	// EventStateChanged: the state changed; State is the new one and Prev
	// the old.
	EventStateChanged EventType = "stateChanged"
)

// Event is one lifecycle event of a Client.
//
// A typical life, as delivered to Options.OnEvent:
//
//	Connect:            connecting, stateChanged(connecting),
//	                    connected, stateChanged(connected)
//	server goes away:   error (per broken connection), disconnected,
//	                    connecting, stateChanged(connecting),
//	                    error (per failed dial) ... stateChanged(error)
//	server is back:     connected, stateChanged(connected)
//	Close:              stateChanged(disconnecting),
//	                    stateChanged(disconnected), close
//
// A named event comes right before the stateChanged it causes.
type Event struct {
	Type EventType
	Time time.Time
	// State is the Client's state once the event happened: for
	// stateChanged, the new state.
	State State
	// Prev is the state before, for stateChanged.
	Prev State
	// Addr is the server's host:port.
	Addr string
	// Err is set for error events. It never holds a password.
	Err error
}

// String formats the event for logs.
func (e Event) String() string {
	s := fmt.Sprintf("%s %s", e.Addr, e.Type)
	if e.Type == EventStateChanged {
		s += fmt.Sprintf(" %s->%s", e.Prev, e.State)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// emitLocked queues an event for delivery by flushEvents. c.mu must be held.
func (c *Client) emitLocked(typ EventType, err error) {
	if c.opts.OnEvent == nil {
		return
	}
	c.events = append(c.events, Event{Type: typ, Time: time.Now(), State: c.state, Addr: c.addr, Err: err})
}

// transitionLocked moves to state to, emitting the named events and then
// stateChanged when the state differs. c.mu must be held.
func (c *Client) transitionLocked(to State, named ...EventType) {
	prev := c.state
	c.state = to
	for _, typ := range named {
		c.emitLocked(typ, nil)
	}
	if prev != to && c.opts.OnEvent != nil {
		c.events = append(c.events, Event{Type: EventStateChanged, Time: time.Now(), State: to, Prev: prev, Addr: c.addr})
	}
}

// unlock releases c.mu and delivers any events queued meanwhile.
func (c *Client) unlock() {
	pending := len(c.events) > 0
	c.mu.Unlock()
	if pending {
		c.flushEvents()
	}
}

// flushEvents delivers queued events. Delivery is serialised by emitMu and
// takes the queue in order, so every event reaches OnEvent once and in the
// order it was queued, whichever goroutine delivers it; c.mu is not held
// while OnEvent runs.
func (c *Client) flushEvents() {
	c.emitMu.Lock()
	defer c.emitMu.Unlock()
	for {
		c.mu.Lock()
		evs, fn := c.events, c.opts.OnEvent
		c.events = nil
		c.mu.Unlock()
		if len(evs) == 0 {
			return
		}
		if fn == nil {
			continue
		}
		for _, e := range evs {
			fn(e)
		}
	}
}
