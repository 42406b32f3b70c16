package manager

import (
	"fmt"
	"strings"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// EventType names an event on the manager's stream.
type EventType string

// Per-target events relayed from the target's pool, with the names of the
// official Fleare clients (see fleare.EventType). Old and New carry the
// previous and new state of a stateChanged.
const (
	EventConnecting   EventType = EventType(fleare.EventConnecting)
	EventConnected    EventType = EventType(fleare.EventConnected)
	EventDisconnected EventType = EventType(fleare.EventDisconnected)
	EventError        EventType = EventType(fleare.EventError)
	EventClose        EventType = EventType(fleare.EventClose)
	EventStateChanged EventType = EventType(fleare.EventStateChanged)
)

// Configuration and target events, emitted by Apply and the file watcher.
const (
	// EventConfigApplied: a new configuration was accepted and its plan
	// executed. New is the plan's summary; Error lists the targets whose
	// action failed (they stay desired and keep converging). A
	// configuration that changes nothing is recorded as ReloadUnchanged,
	// with no event.
	EventConfigApplied EventType = "config.applied"
	// EventConfigRejected: a configuration did not load or validate and
	// changed nothing. Errors holds every problem, each with its file and
	// line.
	EventConfigRejected EventType = "config.rejected"
	// EventTargetCreated: a target's pool was opened. New is its endpoint.
	EventTargetCreated EventType = "target.created"
	// EventTargetDeleted: a target was removed; its pool drains and closes.
	// Old is its endpoint.
	EventTargetDeleted EventType = "target.deleted"
	// EventTargetResized: a pool's size changed in place. Old and New are
	// the sizes.
	EventTargetResized EventType = "target.resized"
	// EventTargetUpdated: settings changed in place. Changes lists them.
	EventTargetUpdated EventType = "target.updated"
	// EventTargetReplaced: a target switched to a new pool because its
	// endpoint or credentials changed. Old and New are the endpoints;
	// Changes lists every field that changed (a password only as changed).
	EventTargetReplaced EventType = "target.replaced"
	// EventTargetDrained: a pool taken out of service (by a replace, a
	// delete or Close) has closed. Error is set when connections still
	// borrowed at the end of the drain bound were closed under their
	// callers.
	EventTargetDrained EventType = "target.drained"
)

// Event is one entry of the manager's event stream. It never holds a
// secret: values come from plans, which mask passwords, and errors from the
// fleare client, which never includes them.
type Event struct {
	// Time is when the event happened.
	Time time.Time `json:"time"`
	// Type says what happened.
	Type EventType `json:"type"`
	// Target is the target's name, for target and pool events.
	Target string `json:"target,omitempty"`
	// Endpoint is the host:port of the pool the event is about.
	Endpoint string `json:"endpoint,omitempty"`
	// Generation is the configuration generation the event belongs to.
	Generation uint64 `json:"generation,omitempty"`
	// Old and New are the values before and after, where the event has
	// them: sizes, endpoints, states.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Changes lists changed fields as "path: old → new".
	Changes []string `json:"changes,omitempty"`
	// Error is the error text, for error events and failed actions.
	Error string `json:"error,omitempty"`
	// Errors holds every problem of a rejected configuration.
	Errors []string `json:"errors,omitempty"`
	// Source is where a configuration came from: a file path, or "api".
	Source string `json:"source,omitempty"`
	// Client and User are, for proxy events, the app's address (ip:port)
	// and the user name it gave ("" when none); never a password.
	Client string `json:"client,omitempty"`
	User   string `json:"user,omitempty"`

	via string // what brought a configuration, for the log only
}

// String formats the event as one human-readable line.
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.Time.Format("15:04:05.000"))
	b.WriteByte(' ')
	b.WriteString(string(e.Type))
	if e.Target != "" {
		fmt.Fprintf(&b, " %s", e.Target)
	}
	if e.Endpoint != "" {
		fmt.Fprintf(&b, " (%s)", e.Endpoint)
	}
	switch {
	case e.Old != "" && e.New != "":
		fmt.Fprintf(&b, " %s → %s", e.Old, e.New)
	case e.New != "":
		fmt.Fprintf(&b, " %s", e.New)
	case e.Old != "":
		fmt.Fprintf(&b, " %s", e.Old)
	}
	if e.Client != "" {
		fmt.Fprintf(&b, " client=%s", e.Client)
	}
	if e.User != "" {
		fmt.Fprintf(&b, " user=%q", e.User)
	}
	if len(e.Changes) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(e.Changes, "; "))
	}
	if e.Error != "" {
		fmt.Fprintf(&b, ": %s", e.Error)
	}
	for _, s := range e.Errors {
		fmt.Fprintf(&b, "\n  %s", s)
	}
	return b.String()
}

// Subscribe returns a channel of every event from now on, and a function
// that ends the subscription and closes the channel. Publishing never waits
// for a subscriber: one whose buffer (Options.EventBuffer) is full loses
// events, which Status reports as EventsDropped. The channel is closed by
// cancel or when the manager is closed.
func (m *Manager) Subscribe() (<-chan Event, func()) {
	return m.events.Subscribe(m.opts.EventBuffer)
}

// Observe registers f to be called with every event from now on, by the
// code that emits it, before the call that caused it (Apply, Pause,
// Reconnect, ...) returns: an observer never lags and never loses an
// event, unlike a subscriber. Calls are made one at a time, in the
// events' order, so f must be quick, must not block and must not call the
// Manager. closed is called once when the manager is closed, not by
// cancel; after cancel returns, f is not called again.
func (m *Manager) Observe(f func(Event), closed func()) (cancel func()) {
	return m.events.Observe(f, closed)
}

// logConfigUnchanged is the log line of a configuration attempt that
// changed nothing. It is not an event: subscribers never see it, and no
// config.applied is emitted for such an attempt.
const logConfigUnchanged EventType = "config.unchanged"

// logOnly stamps e and queues it for the log, without publishing it.
func (m *Manager) logOnly(e Event) {
	if m.log == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	m.log.enqueue(e)
}

// emit stamps e, publishes it and queues it for the log; it never waits.
func (m *Manager) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	m.events.Publish(e)
	if m.log != nil {
		m.log.enqueue(e)
	}
}

// poolEvent turns an event of a target's pool into a manager event.
func poolEvent(target string, gen uint64, fe fleare.Event) Event {
	e := Event{
		Time:       fe.Time,
		Type:       EventType(fe.Type),
		Target:     target,
		Endpoint:   fe.Addr,
		Generation: gen,
	}
	if fe.Type == fleare.EventStateChanged {
		e.Old, e.New = fe.Prev.String(), fe.State.String()
	}
	if fe.Err != nil {
		e.Error = fe.Err.Error()
	}
	return e
}
