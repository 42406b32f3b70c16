package manager

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/spec"
)

// target is one configured target as the manager runs it. Calls through a
// Client read active and removed without a lock; everything else is guarded
// by Manager.mu.
type target struct {
	name    string
	active  atomic.Pointer[pool] // the pool that serves calls
	removed atomic.Bool          // set once, when the target leaves the configuration

	paused bool       // Pause: pools built for it start paused (control.go)
	ctl    sync.Mutex // serialises Pause and Resume of this target; not mu

	spec       spec.Target  // the desired spec: active's, or pending's while a replace is under way
	pending    *replacement // a replace waiting for its new pool to fill; nil if none
	lastChange time.Time    // when spec last changed
}

// replacement is the new half of a make-before-break replace.
type replacement struct {
	pool     *pool
	changes  []string      // what the replace changes, for the event
	switched chan struct{} // closed once pool serves the target
}

// pool is one fleare.Client and the spec it was built from.
type pool struct {
	target string
	spec   spec.Target // as built; in-place updates do not change it
	client *fleare.Client
	stop   context.CancelFunc // ends connectLoop
	drain  atomic.Int64       // the drain timeout in force, in ns

	ready    chan struct{} // closed when the pool first held all its connections
	failed   chan struct{} // closed at the pool's first error event
	failOnce sync.Once
	notify   chan struct{} // capacity 1: poked at every pool event
}

// endpoint returns the pool's host:port.
func (p *pool) endpoint() string { return p.client.Addr() }

// newPool builds a pool for t and starts filling it: connectLoop runs until
// the pool is full (then calls onReady, if set) or until it is stopped.
func (m *Manager) newPool(t spec.Target, onReady func(*pool)) *pool {
	p := &pool{
		target: t.Name,
		spec:   t,
		ready:  make(chan struct{}),
		failed: make(chan struct{}),
		notify: make(chan struct{}, 1),
	}
	p.drain.Store(int64(t.Timeouts.Drain))
	p.client = fleare.NewClient(t.Host, t.Port, m.poolOptions(t, p))
	ctx, cancel := context.WithCancel(m.life)
	p.stop = cancel
	m.wg.Go(func() { m.connectLoop(ctx, p, onReady) })
	return p
}

// poolOptions returns the options of a pool for t: the target's own
// (spec.Target.PoolOptions), and the manager's dialer, health check override,
// after-connect hook and event relay to p.
func (m *Manager) poolOptions(t spec.Target, p *pool) fleare.Options {
	o := t.PoolOptions()
	if m.opts.HealthCheckInterval > 0 {
		o.HealthCheckInterval = m.opts.HealthCheckInterval
	}
	o.CloseSpacing = m.opts.CloseSpacing
	o.Dialer = m.opts.Dialer
	if hook := m.opts.AfterConnect; hook != nil {
		name := t.Name
		o.AfterConnect = func(ctx context.Context, c *fleare.Conn) error { return hook(ctx, name, c) }
	}
	o.OnEvent = func(e fleare.Event) { m.poolEvent(p, e) }
	return o
}

// poolEvent relays an event of p to the stream and wakes whoever waits on p.
func (m *Manager) poolEvent(p *pool, e fleare.Event) {
	if controlEvent(e) {
		return // announced per target by Pause and Resume
	}
	m.emit(poolEvent(p.target, m.gen.Load(), e))
	if e.Type == fleare.EventError {
		p.failOnce.Do(func() { close(p.failed) })
	}
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// connectLoop waits until p holds all its connections, then closes p.ready
// and calls onReady. The pool's own maintainer does the dialing and keeps
// retrying after failures; this loop only waits for it to succeed, waking at
// each pool event.
func (m *Manager) connectLoop(ctx context.Context, p *pool, onReady func(*pool)) {
	for {
		err := p.client.Connect(ctx)
		if err == nil {
			close(p.ready)
			if onReady != nil {
				onReady(p)
			}
			return
		}
		if ctx.Err() != nil || errors.Is(err, fleare.ErrClosed) {
			return
		}
		select {
		case <-p.notify:
		case <-ctx.Done():
			return
		}
	}
}

// errNotReady says a pool stopped making progress.
var errNotReady = errors.New("no new connection within the connect timeout")

// progressPoll is how often await looks at a filling pool's count.
const progressPoll = 10 * time.Millisecond

// await waits until p is full, has failed once, or has gone a connect
// timeout without opening a connection (a pool of many connections fills
// one connection at a time, each bounded by the connect timeout), or until
// ctx ends or the manager closes, and says which. done, when not nil,
// replaces p.ready as the sign of success.
func (m *Manager) await(ctx context.Context, p *pool, done <-chan struct{}) error {
	if done == nil {
		done = p.ready
	}
	limit := p.spec.Timeouts.Connect
	stalled := time.NewTimer(limit)
	defer stalled.Stop()
	poll := time.NewTicker(progressPoll)
	defer poll.Stop()
	var reason error
	for open := 0; reason == nil; {
		select {
		case <-done:
			return nil
		case <-p.failed:
			reason = errors.New("a dial failed")
		case <-ctx.Done():
			reason = ctx.Err()
		case <-m.closing:
			return ErrClosed
		case <-stalled.C:
			reason = errNotReady
		case <-poll.C:
			if n := p.client.Stats().Open; n > open {
				open = n
				stalled.Reset(limit)
			}
		}
	}
	select { // a success at the same moment wins
	case <-done:
		return nil
	default:
	}
	st := p.client.Stats()
	if st.LastError != "" {
		reason = errors.New(st.LastError)
	}
	return fmt.Errorf("%s: %d of %d connections open: %w", p.endpoint(), st.Open, st.Desired, reason)
}

// retire stops p from filling, then closes it: callers waiting for one of
// its connections fail over (a Client retries them on the target's current
// pool), requests in flight may finish for the spec's drain timeout, and
// connections still borrowed then are closed under their callers, which an
// EventTargetDrained says. It blocks until p is closed.
func (m *Manager) retire(p *pool, why string) {
	p.stop()
	drain := time.Duration(p.drain.Load())
	ctx, cancel := context.WithTimeout(m.life, drain)
	defer cancel()
	err := p.client.Close(ctx)
	e := Event{Type: EventTargetDrained, Target: p.target, Endpoint: p.endpoint(), Generation: m.gen.Load(), Old: why}
	if ce := (*fleare.CloseError)(nil); errors.As(err, &ce) {
		e.Error = fmt.Sprintf("%d connection(s) still in use after the drain timeout (%s) were closed", ce.Forced, drain)
	} else if err != nil {
		e.Error = err.Error()
	}
	m.mu.Lock()
	delete(m.draining, p)
	m.mu.Unlock()
	m.emit(e)
}

// retireLater retires p in the background; Close waits for it.
func (m *Manager) retireLater(p *pool, why string) {
	m.mu.Lock()
	m.draining[p] = why
	m.mu.Unlock()
	m.wg.Go(func() { m.retire(p, why) })
}
