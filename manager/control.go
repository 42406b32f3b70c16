package manager

import (
	"context"
	"fmt"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// Operator controls of a target: Pause, Resume and Reconnect, after
// PgBouncer's PAUSE, RESUME and RECONNECT.

// Events of the operator controls.
const (
	// EventTargetPaused: Pause was called for the target; new requests are
	// held until Resume.
	EventTargetPaused EventType = "target.paused"
	// EventTargetResumed: Resume was called; held requests go on.
	EventTargetResumed EventType = "target.resumed"
	// EventTargetReconnected: Reconnect replaced every connection the
	// target's pool had (New says how many), or was cut short (Error).
	EventTargetReconnected EventType = "target.reconnected"
)

// controlled returns the target called name, and its pools: the serving
// one and a pending replacement's (nil if none). With pause set, it marks
// the target paused (or not) under the same lock, so that a replace that
// builds a pool afterwards builds it paused.
func (m *Manager) controlled(name string, pause *bool) (*target, []*pool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.targets[name]
	if t == nil {
		select {
		case <-m.closing:
			return nil, nil, ErrClosed
		default:
		}
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownTarget, name)
	}
	if pause != nil {
		t.paused = *pause
	}
	pools := []*pool{t.active.Load()}
	if t.pending != nil {
		pools = append(pools, t.pending.pool)
	}
	return t, pools, nil
}

// Pause holds the target's new requests until Resume (see
// fleare.Client.Pause): each waits within its own deadline and counts
// against pool.max_queue. Requests in flight finish; Pause returns once
// none is left, so that the server can be restarted, or when ctx ends
// first (an error wrapping ctx's; the target stays paused). The pause
// outlives configuration changes: a reload that changes nothing about the
// target, or changes it in place, keeps the same pool, paused; one that
// replaces the pool builds the new one paused, and requests held by the old
// one move to it, still held. Removing the target ends its pause (held
// requests fail with ErrTargetRemoved).
func (m *Manager) Pause(ctx context.Context, name string) error {
	on := true
	t, pools, err := m.controlled(name, &on)
	if err != nil {
		return err
	}
	p := pools[0]
	for _, pp := range pools[1:] {
		pauseQuietly(pp)
	}
	m.emit(Event{Type: EventTargetPaused, Target: t.name, Endpoint: p.endpoint(), Generation: m.gen.Load()})
	if err := p.client.Pause(ctx); err != nil {
		return fmt.Errorf("manager: pause %q: %w", name, err)
	}
	return nil
}

// pauseQuietly pauses a pool that serves no request yet (a replacement
// filling): there is nothing in flight to wait for.
func pauseQuietly(p *pool) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.client.Pause(ctx) // already paused if it returns an error
}

// Resume ends the target's pause: held requests go on. Resuming a target
// that is not paused does nothing.
func (m *Manager) Resume(name string) error {
	off := false
	t, pools, err := m.controlled(name, &off)
	if err != nil {
		return err
	}
	wasPaused := false
	for _, p := range pools {
		wasPaused = wasPaused || p.client.Paused()
		p.client.Resume()
	}
	if wasPaused {
		m.emit(Event{Type: EventTargetResumed, Target: t.name, Endpoint: pools[0].endpoint(), Generation: m.gen.Load()})
	}
	return nil
}

// Paused reports whether the target called name is paused.
func (m *Manager) Paused(name string) (bool, error) {
	t, _, err := m.controlled(name, nil)
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return t.paused, nil
}

// Reconnect replaces every connection of the target's serving pool, one at
// a time and make-before-break (see fleare.Client.Reconnect): after a DNS
// change, new connections go to the name's new address, and no request
// fails. It returns once every old connection is replaced, or when ctx
// ends (an error wrapping ctx's; the replacing goes on). A pending
// replacement's pool is new already and is left alone.
func (m *Manager) Reconnect(ctx context.Context, name string) error {
	t, pools, err := m.controlled(name, nil)
	if err != nil {
		return err
	}
	p := pools[0]
	before := p.client.Stats().ClosedReconnect
	err = p.client.Reconnect(ctx)
	e := Event{Type: EventTargetReconnected, Target: t.name, Endpoint: p.endpoint(), Generation: m.gen.Load(),
		New: fmt.Sprintf("%d connections replaced", p.client.Stats().ClosedReconnect-before)}
	if err != nil {
		e.Error = err.Error()
		err = fmt.Errorf("manager: reconnect %q: %w", name, err)
	}
	m.emit(e)
	return err
}

// pauseNewPoolLocked pauses a pool just built for t when t is paused, before
// it serves. m.mu is held.
func (t *target) pauseNewPoolLocked(p *pool) {
	if t.paused {
		pauseQuietly(p)
	}
}

// controlEvent reports whether a pool's event is one of the operator
// controls', which the manager announces itself, per target.
func controlEvent(e fleare.Event) bool {
	return e.Type == fleare.EventPaused || e.Type == fleare.EventResumed
}
