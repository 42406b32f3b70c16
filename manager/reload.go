package manager

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/filewatch"
	"github.com/fleare-manager/fleare-manager/reconcile"
	"github.com/fleare-manager/fleare-manager/spec"
)

// A configuration change has one owner: the reload loop (run), a goroutine
// that New starts and Close joins. Apply, Reject and WatchFile send it a
// request and wait for its reply; the watched file's readings and SIGHUP
// reach it directly. It applies one configuration at a time and records
// every attempt the same way, whatever its source.

// requestKind says what a request asks of the reload loop.
type requestKind uint8

const (
	applyRequest  requestKind = iota + 1 // apply cfg from source
	rejectRequest                        // record err as a rejected configuration from source
	watchRequest                         // start watching: apply the first reading, then follow w
)

// request is one configuration change for the reload loop. ctx is the
// caller's, for this request only.
type request struct {
	ctx    context.Context
	kind   requestKind
	cfg    *spec.Config
	err    error
	source string
	apply  ApplyOptions // for an applyRequest
	w      *watch
	first  filewatch.Update // the watch's first reading
	reply  chan reply       // capacity 1: the loop never waits on it
}

// reply is the reload loop's answer to a request.
type reply struct {
	res Result
	err error
}

// Apply makes cfg the desired configuration: it diffs cfg against the
// configuration in force, executes the plan, and returns it with each
// action's outcome. New pools (created targets, and the new half of a
// replace) are waited for until they are full, fail a first time, or reach
// their connect timeout; those that fail stay desired and keep converging
// in the background (a replace keeps serving from the old pool until the
// new one is full). The error, if any, aggregates the failed actions.
//
// A cfg that changes nothing (an empty plan) is recorded as unchanged, with
// one log line and no config.applied; the first configuration is always
// applied. Apply calls are serialised with each other and with file
// reloads. The manager keeps cfg, which its caller must not modify
// afterwards.
//
// While a file is watched, the file is the source of truth and Apply is
// refused with ErrFileWins: use ApplyWith and ApplyOptions.Force to apply
// anyway (see ApplyOptions).
func (m *Manager) Apply(ctx context.Context, cfg *spec.Config) (Result, error) {
	return m.ApplyWith(ctx, cfg, ApplyOptions{})
}

// Reject records that a configuration from source (a file path, or a name
// the caller chooses) was refused, and why: it becomes the last reload in
// Status, with every problem of a spec error on its own line, and an
// EventConfigRejected says so. Nothing else changes. Both hold at most
// spec.MaxProblems problems and a line counting the others, so a file with
// a million mistakes costs no more to keep than one with a hundred.
// WatchFile rejects the watched file's invalid readings itself; code that parses configurations
// itself (an admin API, say) calls Reject to report theirs the same way.
// After Close it does nothing.
func (m *Manager) Reject(source string, err error) {
	m.send(context.Background(), request{kind: rejectRequest, err: err, source: source})
}

// send hands req to the reload loop and returns its reply. A request the
// loop has taken is always answered, once handled.
func (m *Manager) send(ctx context.Context, req request) reply {
	req.ctx = ctx
	req.reply = make(chan reply, 1)
	select {
	case m.requests <- req:
		return <-req.reply
	case <-ctx.Done():
		return reply{err: fmt.Errorf("manager: %w", ctx.Err())}
	case <-m.closing:
		return reply{err: ErrClosed}
	}
}

// run is the reload loop: it handles requests, and the watched file's
// readings while a watch is on, until Close.
func (m *Manager) run() {
	defer close(m.loopDone)
	var w *watch // the watch in force; nil when none
	defer func() { w.stop(m) }()
	for {
		u, signal, settled := w.channels()
		select {
		case <-m.closing:
			return
		case req := <-m.requests:
			req.reply <- m.handle(req, &w)
		case r, ok := <-u:
			if !ok { // the watch's context ended
				w.stop(m)
				w = nil
				continue
			}
			m.fileReading(w, r, "file")
		case <-signal:
			m.fileReading(w, readNow(w.path), "SIGHUP")
		case <-settled:
			m.settled(w)
		}
	}
}

// handle carries out one request; w is the loop's watch.
func (m *Manager) handle(req request, w **watch) reply {
	select {
	case <-m.closing:
		return reply{err: ErrClosed}
	default:
	}
	switch req.kind {
	case applyRequest:
		if err := m.admit(req.apply, *w); err != nil {
			return reply{err: err}
		}
		res, err := m.applyConfig(req.ctx, req.cfg, req.source, req.apply.Hash, SourceAPI)
		return reply{res: res, err: err}
	case rejectRequest:
		m.reject(req.source, req.err)
		return reply{}
	case watchRequest:
		if *w != nil {
			return reply{err: fmt.Errorf("manager: watch %s: already watching %s", req.w.path, (*w).path)}
		}
		err := m.startWatch(req.ctx, req.w, req.first)
		if err == nil {
			*w = req.w
		}
		return reply{err: err}
	}
	return reply{err: fmt.Errorf("manager: unknown request %d", req.kind)}
}

// applyConfig applies cfg, from source (a file, or "api") whose bytes have
// the given hash (zero if unknown), and records the attempt; via says what
// brought it ("api", "file", "SIGHUP") in the line logged when nothing
// changes. It runs on the reload loop.
func (m *Manager) applyConfig(ctx context.Context, cfg *spec.Config, source string, hash [32]byte, via string) (Result, error) {
	m.mu.Lock()
	plan := reconcile.Diff(cfg, m.config)
	unchanged := plan.Empty() && m.config != nil
	gen := m.gen.Load()
	if !plan.Empty() {
		gen = m.gen.Add(1)
	}
	m.config, m.source, m.hash = cfg, source, hash
	if unchanged {
		m.recordLocked(Reload{Time: time.Now(), Source: source, Result: ReloadUnchanged, Generation: gen})
	}
	m.mu.Unlock()
	if unchanged {
		m.logOnly(Event{Type: logConfigUnchanged, Source: source, Generation: gen, via: via})
		m.proxiesAfter(plan, nil) // a listen address that failed is tried again
		return Result{Generation: gen, Plan: plan}, nil
	}

	m.proxiesBefore(plan)
	res := Result{Generation: gen, Plan: plan, Outcomes: m.execute(ctx, plan)}
	m.proxiesAfter(plan, res.Outcomes)
	var failed actionErrors
	for _, o := range res.Outcomes {
		if o.Err != nil {
			failed = append(failed, fmt.Errorf("target %q: %s: %w", o.Target, o.Action, o.Err))
		}
	}
	var err error
	if len(failed) > 0 {
		err = failed
	}
	m.recordApplied(res, source, failed)
	return res, err
}

// actionErrors are the failed actions of an apply, each wrapped.
type actionErrors []error

// Error says how many actions failed, then each on a line of its own.
func (e actionErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "manager: apply: %d of the plan's actions failed:", len(e))
	for _, err := range e {
		b.WriteString("\n  ")
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As each failed action.
func (e actionErrors) Unwrap() []error { return e }

// recordApplied stores the result of an accepted configuration and emits
// config.applied.
func (m *Manager) recordApplied(res Result, source string, failed actionErrors) {
	r := Reload{Time: time.Now(), Source: source, Result: ReloadApplied, Generation: res.Generation}
	e := Event{Type: EventConfigApplied, Generation: res.Generation, Source: source, New: res.Plan.Summary().String()}
	if len(failed) > 0 {
		r.Result = ReloadPartial
		e.Error = failed.Error()
		for _, o := range res.Outcomes {
			if o.Err != nil {
				r.Errors = append(r.Errors, fmt.Sprintf("target %q: %s: %v", o.Target, o.Action, o.Err))
			}
		}
	}
	m.mu.Lock()
	m.recordLocked(r)
	m.mu.Unlock()
	m.emit(e)
}

// reject records a refused configuration and emits config.rejected.
func (m *Manager) reject(source string, err error) {
	lines := spec.Lines(err)
	m.mu.Lock()
	m.recordLocked(Reload{Time: time.Now(), Source: source, Result: ReloadRejected, Generation: m.gen.Load(), Errors: lines})
	m.mu.Unlock()
	m.mu.Lock()
	kept := "the configuration in force is kept"
	if m.config == nil {
		kept = "nothing is applied (no configuration is in force yet)"
	}
	m.mu.Unlock()
	m.emit(Event{Type: EventConfigRejected, Source: source, Generation: m.gen.Load(),
		Error: fmt.Sprintf("%d problem(s); %s", spec.Count(err), kept), Errors: lines})
}

// recordLocked stores r as the last configuration attempt and counts it.
func (m *Manager) recordLocked(r Reload) {
	m.reload = r
	if r.Result != ReloadRejected {
		m.lastSuccess = r.Time
	}
	switch r.Result {
	case ReloadApplied:
		m.reloads.Applied++
	case ReloadPartial:
		m.reloads.Partial++
	case ReloadRejected:
		m.reloads.Rejected++
	case ReloadUnchanged:
		m.reloads.Unchanged++
	}
}
