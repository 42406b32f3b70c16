package manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/broadcast"
	"github.com/fleare-manager/fleare-manager/reconcile"
	"github.com/fleare-manager/fleare-manager/spec"
)

// Errors for states. Errors returned by this package wrap them.
var (
	// ErrClosed: the manager was closed.
	ErrClosed = errors.New("manager: closed")
	// ErrTargetRemoved: a Client's target was in the configuration and has
	// been removed from it.
	ErrTargetRemoved = errors.New("manager: target removed")
	// ErrUnknownTarget: a Client's target has never been in the
	// configuration since the Client was made.
	ErrUnknownTarget = errors.New("manager: unknown target")
)

// Manager runs one connection pool per configured target and keeps the pools
// matching the configuration it is given, through Apply or a watched file.
// It is safe for concurrent use. Create it with New and always Close it.
type Manager struct {
	opts   Options
	events *broadcast.Broadcaster[Event]
	log    *logger       // nil without Options.Logger
	gen    atomic.Uint64 // configuration generation, bumped by each apply that changes something

	// requests carries configuration changes (Apply, Reject, WatchFile) to
	// the reload loop, the one goroutine that applies configurations, so
	// that plans are computed, executed and recorded one at a time.
	requests chan request
	loopDone chan struct{} // closed when the reload loop has returned

	// life is the manager's lifetime context, canceled by Close when its
	// deadline passes (forcing drains) or once all pools are closed. It is
	// the parent of every background goroutine's context.
	life      context.Context
	endLife   context.CancelFunc
	closing   chan struct{} // closed when Close starts
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // background goroutines: pool fillers, drains

	fronts fronts // the proxies of targets with a listen section (proxy.go)

	mu sync.Mutex
	// Everything below is guarded by mu.
	targets     map[string]*target
	draining    map[*pool]string // pools closing, with why
	config      *spec.Config     // the configuration last accepted
	reload      Reload           // the last configuration attempt
	reloads     ReloadCounts     // configuration attempts by result
	lastSuccess time.Time        // when an attempt last succeeded
	source      string           // where config came from: a file path, or "api"
	hash        [32]byte         // SHA-256 of the file config was read from
	watchPath   string           // the file WatchFile watches, "" if none
}

// New returns a Manager with no targets.
func New(o Options) (*Manager, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	life, end := context.WithCancel(context.Background())
	m := &Manager{
		opts:     o,
		events:   broadcast.New[Event](),
		log:      newLogger(o.Logger, o.EventBuffer),
		requests: make(chan request),
		loopDone: make(chan struct{}),
		life:     life,
		endLife:  end,
		closing:  make(chan struct{}),
		targets:  make(map[string]*target),
		draining: make(map[*pool]string),
	}
	go m.run()
	return m, nil
}

// Outcome is what became of one action of an applied plan.
type Outcome struct {
	Target string         `json:"target"`
	Action reconcile.Kind `json:"action"`
	// Err is why the action did not complete, nil if it did. A target whose
	// pool could not connect stays configured and keeps retrying.
	Err error `json:"-"`
	// Took is how long the action ran.
	Took time.Duration `json:"-"`
}

// MarshalJSON writes the outcome with how long it took as a duration
// string ("took": "1.5ms") and its error as text ("error", absent if none).
func (o Outcome) MarshalJSON() ([]byte, error) {
	var msg string
	if o.Err != nil {
		msg = o.Err.Error()
	}
	return json.Marshal(struct {
		Target string         `json:"target"`
		Action reconcile.Kind `json:"action"`
		Took   string         `json:"took"`
		Error  string         `json:"error,omitempty"`
	}{o.Target, o.Action, o.Took.String(), msg})
}

// Result is what Apply did.
type Result struct {
	// Generation is the configuration generation after the apply.
	Generation uint64 `json:"generation"`
	// Plan is the plan that was executed.
	Plan reconcile.Plan `json:"plan"`
	// Outcomes has one entry per action, in plan order.
	Outcomes []Outcome `json:"outcomes"`
}

// Plan returns the plan Apply would execute for cfg now, without executing
// it.
func (m *Manager) Plan(cfg *spec.Config) reconcile.Plan {
	m.mu.Lock()
	cur := m.config
	m.mu.Unlock()
	return reconcile.Diff(cfg, cur)
}

// Config returns the configuration last accepted, or nil if none.
func (m *Manager) Config() *spec.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.config
}

// execute runs plan's actions: creates and replaces first, concurrently
// (bounded by ConnectConcurrency), then updates, resizes and deletes, which
// do not wait on the network. Outcomes are in plan order.
func (m *Manager) execute(ctx context.Context, plan reconcile.Plan) []Outcome {
	out := make([]Outcome, len(plan.Actions))
	sem := make(chan struct{}, m.opts.ConnectConcurrency)
	var wg sync.WaitGroup
	for i, a := range plan.Actions {
		out[i] = Outcome{Target: a.Name, Action: a.Kind}
		run := func() {
			start := time.Now()
			out[i].Err = m.act(ctx, a)
			out[i].Took = time.Since(start)
		}
		if a.Kind != reconcile.Create && a.Kind != reconcile.Replace {
			wg.Wait() // new capacity first, as the plan's order intends
			run()
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			run()
		})
	}
	wg.Wait()
	return out
}

// act executes one action.
func (m *Manager) act(ctx context.Context, a reconcile.Action) error {
	switch a.Kind {
	case reconcile.Create:
		return m.create(ctx, a)
	case reconcile.Replace:
		return m.replace(ctx, a)
	case reconcile.Update, reconcile.Resize:
		return m.update(ctx, a)
	case reconcile.Delete:
		m.delete(a)
		return nil
	}
	return fmt.Errorf("manager: unknown action %v", a.Kind)
}

// create opens a pool for a new target and waits for it to fill.
func (m *Manager) create(ctx context.Context, a reconcile.Action) error {
	// The event comes first, so that the pool's own events follow it.
	m.emit(Event{Type: EventTargetCreated, Target: a.Name, Endpoint: a.Desired.Addr(), Generation: m.gen.Load(),
		New: fmt.Sprintf("pool %d", a.Desired.Pool.Size)})
	p := m.newPool(a.Desired, nil)
	t := &target{name: a.Name, spec: a.Desired, lastChange: time.Now()}
	t.active.Store(p)
	m.mu.Lock()
	m.targets[a.Name] = t
	m.mu.Unlock()
	return m.await(ctx, p, nil)
}

// replace opens a pool for a target's new endpoint or credentials, and
// switches the target to it once it is full; the old pool then drains. A
// replace still waiting from an earlier apply is abandoned for this one.
// When the new pool is not full within its connect timeout, replace returns
// an error and the switch happens in the background when it is.
func (m *Manager) replace(ctx context.Context, a reconcile.Action) error {
	m.mu.Lock()
	t := m.targets[a.Name]
	stale := t.pending
	r := &replacement{changes: changeLines(a.Changes), switched: make(chan struct{})}
	t.pending, t.spec, t.lastChange = r, a.Desired, time.Now()
	// The pool is made under mu so that its filler cannot switch before
	// t.pending is set.
	r.pool = m.newPool(a.Desired, func(p *pool) { m.switchTo(t, r) })
	t.pauseNewPoolLocked(r.pool)
	m.mu.Unlock()
	if stale != nil {
		m.retireLater(stale.pool, "superseded")
	}
	if err := m.await(ctx, r.pool, r.switched); err != nil {
		return fmt.Errorf("new pool not ready, %s keeps serving: %w", t.active.Load().endpoint(), err)
	}
	return nil
}

// switchTo makes r's pool serve t, if r is still t's pending replacement,
// and retires the old pool.
func (m *Manager) switchTo(t *target, r *replacement) {
	m.mu.Lock()
	if t.pending != r || t.removed.Load() {
		m.mu.Unlock()
		return // superseded or deleted; whoever did that retires r.pool
	}
	t.pending = nil
	old := t.active.Swap(r.pool)
	m.draining[old] = "replaced"
	m.mu.Unlock()
	close(r.switched)
	m.emit(Event{Type: EventTargetReplaced, Target: t.name, Endpoint: r.pool.endpoint(), Generation: m.gen.Load(),
		Old: old.endpoint(), New: r.pool.endpoint(), Changes: r.changes})
	m.retire(old, "replaced")
}

// update applies in-place changes (settings, size) to a target's pool. A
// target whose replace is still pending gets a new replace instead, built
// from the new spec.
func (m *Manager) update(ctx context.Context, a reconcile.Action) error {
	m.mu.Lock()
	t := m.targets[a.Name]
	if t.pending != nil {
		m.mu.Unlock()
		return m.replace(ctx, reconcile.Action{Kind: reconcile.Replace, Name: a.Name, Desired: a.Desired, Current: a.Current})
	}
	p := t.active.Load()
	t.spec, t.lastChange = a.Desired, time.Now()
	m.mu.Unlock()

	if err := p.client.Update(m.poolOptions(a.Desired, p)); err != nil {
		return err
	}
	p.drain.Store(int64(a.Desired.Timeouts.Drain))
	e := Event{Type: EventTargetUpdated, Target: a.Name, Endpoint: p.endpoint(), Generation: m.gen.Load(),
		Changes: changeLines(a.Changes)}
	if a.Kind == reconcile.Resize {
		e.Type, e.Changes = EventTargetResized, nil
		e.Old, e.New = fmt.Sprint(a.Current.Pool.Size), fmt.Sprint(a.Desired.Pool.Size)
	}
	m.emit(e)
	return nil
}

// delete removes a target; its pool (and a pending replacement's) drain in
// the background.
func (m *Manager) delete(a reconcile.Action) {
	m.mu.Lock()
	t := m.targets[a.Name]
	delete(m.targets, a.Name)
	t.removed.Store(true)
	pending := t.pending
	t.pending = nil
	p := t.active.Load()
	m.mu.Unlock()
	m.emit(Event{Type: EventTargetDeleted, Target: a.Name, Endpoint: p.endpoint(), Generation: m.gen.Load(), Old: p.endpoint()})
	if pending != nil {
		m.retireLater(pending.pool, "deleted")
	}
	m.retireLater(p, "deleted")
}

// changeLines describes a plan's changes for an event, secrets masked.
func changeLines(cs []reconcile.Change) []string {
	var out []string
	for _, c := range cs {
		if c.Sensitive {
			out = append(out, c.Path+" changed")
			continue
		}
		out = append(out, fmt.Sprintf("%s %s → %s", c.Path, c.Old, c.New))
	}
	return out
}

// Close stops watching, and closes every pool: callers waiting for a
// connection fail at once, requests in flight may finish within each
// target's drain timeout or until ctx ends, whichever is first, and are then
// cut off. It waits for every goroutine the manager started. Close is
// idempotent; later calls return the first call's result.
func (m *Manager) Close(ctx context.Context) error {
	m.closeOnce.Do(func() { m.closeErr = m.close(ctx) })
	return m.closeErr
}

func (m *Manager) close(ctx context.Context) error {
	close(m.closing)
	stopForcing := context.AfterFunc(ctx, m.endLife) // past ctx, drains are cut short
	defer stopForcing()

	<-m.loopDone    // a running apply sees closing and ends; the watch stops
	m.closeFronts() // apps drain while the pools still serve them
	m.mu.Lock()
	var pools []*pool
	for name, t := range m.targets {
		t.removed.Store(true)
		if t.pending != nil {
			pools = append(pools, t.pending.pool)
			t.pending = nil
		}
		pools = append(pools, t.active.Load())
		delete(m.targets, name)
	}
	for _, p := range pools {
		m.draining[p] = "closed"
	}
	m.mu.Unlock()
	for _, p := range pools {
		m.wg.Go(func() { m.retire(p, "closed") })
	}
	m.wg.Wait()
	m.endLife()
	m.events.Close()
	if m.log != nil {
		m.log.close()
	}
	if ctx.Err() != nil {
		return fmt.Errorf("manager: close: %w", ctx.Err())
	}
	return nil
}
