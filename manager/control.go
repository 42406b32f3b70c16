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

// lookup returns the target called name.
func (m *Manager) lookup(name string) (*target, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.targets[name]; t != nil {
		return t, nil
	}
	select {
	case <-m.closing:
		return nil, ErrClosed
	default:
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownTarget, name)
}

// poolsLocked returns t's pools: the serving one, then a pending
// replacement's, if any. m.mu is held.
func poolsLocked(t *target) []*pool {
	pools := []*pool{t.active.Load()}
	if t.pending != nil {
		pools = append(pools, t.pending.pool)
	}
	return pools
}

// setPaused marks the target called name paused or not, and pauses or
// resumes each of its pools (a pause without waiting for requests in
// flight). It runs under the target's ctl lock, so that concurrent Pause
// and Resume calls leave the target and its pools agreeing, and marks the
// target under mu, so that a replace that builds a pool afterwards builds
// it paused. It returns the serving pool, and whether a pool was paused
// before.
func (m *Manager) setPaused(name string, on bool) (t *target, serving *pool, was bool, err error) {
	if t, err = m.lookup(name); err != nil {
		return nil, nil, false, err
	}
	t.ctl.Lock()
	defer t.ctl.Unlock()
	m.mu.Lock()
	if m.targets[name] != t { // removed (and perhaps added again) meanwhile
		m.mu.Unlock()
		return nil, nil, false, fmt.Errorf("%w: %q", ErrTargetRemoved, name)
	}
	t.paused = on
	pools := poolsLocked(t)
	m.mu.Unlock()
	for _, p := range pools {
		was = was || p.client.Paused()
		if on {
			pauseQuietly(p)
		} else {
			p.client.Resume()
		}
	}
	return t, pools[0], was, nil
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
	t, p, _, err := m.setPaused(name, true)
	if err != nil {
		return err
	}
	m.emit(Event{Type: EventTargetPaused, Target: t.name, Endpoint: p.endpoint(), Generation: m.gen.Load()})
	if err := p.client.Pause(ctx); err != nil { // paused already: this only waits
		return fmt.Errorf("manager: pause %q: %w", name, err)
	}
	return nil
}

// pauseQuietly pauses p without waiting for its requests in flight.
func pauseQuietly(p *pool) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.client.Pause(ctx) // an error only says requests are in flight
}

// Resume ends the target's pause: held requests go on. Resuming a target
// that is not paused does nothing.
func (m *Manager) Resume(name string) error {
	t, p, was, err := m.setPaused(name, false)
	if err != nil {
		return err
	}
	if was {
		m.emit(Event{Type: EventTargetResumed, Target: t.name, Endpoint: p.endpoint(), Generation: m.gen.Load()})
	}
	return nil
}

// Paused reports whether the target called name is paused.
func (m *Manager) Paused(name string) (bool, error) {
	t, err := m.lookup(name)
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
	t, err := m.lookup(name)
	if err != nil {
		return err
	}
	p := t.active.Load()
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
