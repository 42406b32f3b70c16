package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/proxy"
	"github.com/fleare-manager/fleare-manager/reconcile"
	"github.com/fleare-manager/fleare-manager/spec"
)

// Proxy events: what happened to one application client of a target's
// listener. They name the client's address and the user name it gave,
// never a password.
const (
	// EventProxyAuthFailed: an app's login was refused (unknown user,
	// wrong password, malformed or missing auth frame). Client and User
	// say who; Error why.
	EventProxyAuthFailed EventType = "proxy.auth_failed"
	// EventProxyClientLimit: an app connected while listen.max_clients
	// were open; it was refused. Error names the limit.
	EventProxyClientLimit EventType = "proxy.client_limit"
	// EventProxyClientDropped: a logged-in app was closed by a limit
	// (listen.read_timeout, listen.write_timeout, or a frame of invalid
	// length). Error says which.
	EventProxyClientDropped EventType = "proxy.client_dropped"
	// EventProxyListening: a target's listener opened; New is the address
	// it accepts on, Old the address it replaced (if any). When the
	// address could not be opened, Error says why (the listener it had,
	// if any, keeps accepting); every later reload, an unchanged one
	// included, tries again.
	EventProxyListening EventType = "proxy.listening"
	// EventProxyClosed: a target's proxy closed (its target was removed, or
	// its listen section was): its clients were drained. Error is set when
	// some still had requests in flight at the end of timeouts.drain.
	EventProxyClosed EventType = "proxy.closed"
)

// proxyEventTypes maps the proxy's events to the manager's.
var proxyEventTypes = map[proxy.EventKind]EventType{
	proxy.EventAuthFailed:    EventProxyAuthFailed,
	proxy.EventClientLimit:   EventProxyClientLimit,
	proxy.EventClientDropped: EventProxyClientDropped,
}

// front is the proxy in front of one target: apps connect to its
// listener, and their requests go through the target's Client, which
// follows the target across resizes and replaces.
type front struct {
	p    *proxy.Proxy
	spec spec.Target     // as last applied to p
	ln   *proxy.Listener // nil when the listen failed
	err  string          // why the last listen failed; "" if it did not
}

// fronts are the manager's proxies, by target name. They are changed on
// the reload loop and by Close; Status reads them.
type fronts struct {
	mu sync.Mutex
	m  map[string]*front
}

// get returns the front of target name, or nil.
func (fs *fronts) get(name string) *front {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.m[name]
}

// set records f as name's front; nil removes it.
func (fs *fronts) set(name string, f *front) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f == nil {
		delete(fs.m, name)
		return
	}
	if fs.m == nil {
		fs.m = make(map[string]*front)
	}
	fs.m[name] = f
}

// proxyOptions returns the options of the proxy of target t: its listen
// section's users and limits, MaxInFlight within what the pool takes
// without refusing, a Dial for subscribers that reads the target in
// force, and the event relay.
func (m *Manager) proxyOptions(t spec.Target) proxy.Options {
	o := t.Listen.ProxyOptions()
	o.MaxInFlight = t.Pool.Size*max(1, t.Pool.Pipeline) + t.Pool.MaxQueue
	name := t.Name
	o.Dial = func(ctx context.Context) (*fleare.Conn, error) { return m.dialTarget(ctx, name) }
	o.OnEvent = func(e proxy.Event) {
		typ, ok := proxyEventTypes[e.Kind]
		if !ok { // a kind the proxy gained: relayed under its own name
			typ = EventType("proxy." + string(e.Kind))
		}
		m.emit(Event{Type: typ, Target: name, Client: e.Remote, User: e.Username, Error: e.Reason})
	}
	return o
}

// dialTarget opens a dedicated connection to the server that target name
// points at now, for a proxy client that subscribes. fleare.Dial opens
// connections to one server one after another.
func (m *Manager) dialTarget(ctx context.Context, name string) (*fleare.Conn, error) {
	m.mu.Lock()
	t, ok := m.targets[name]
	var ts spec.Target
	if ok {
		ts = t.spec
	}
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrTargetRemoved, name)
	}
	o := ts.PoolOptions()
	o.PoolSize = 1
	o.Dialer = m.opts.Dialer
	return fleare.Dial(ctx, ts.Host, ts.Port, o)
}

// proxiesBefore runs before a plan's actions: the proxies of targets the
// plan deletes stop listening and drain their clients, each within its
// target's timeouts.drain, while the target's pool still serves their
// requests in flight.
func (m *Manager) proxiesBefore(plan reconcile.Plan) {
	var wg sync.WaitGroup
	for _, a := range plan.Actions {
		if a.Kind != reconcile.Delete {
			continue
		}
		if f := m.fronts.get(a.Name); f != nil {
			wg.Go(func() { m.closeFront(a.Name, f, "target removed") })
		}
	}
	wg.Wait()
}

// proxiesAfter runs after a plan's actions: every target's proxy is made
// to match its listen section (opened, updated, moved to a new address,
// or drained when the section was removed), and a listener that failed to
// open before is tried again. A listen error becomes the error of the
// target's action in outcomes, when it has none of its own.
func (m *Manager) proxiesAfter(plan reconcile.Plan, outcomes []Outcome) {
	// Only the targets with a listen section are copied: a target without
	// one and without a proxy has nothing to sync, and copying every
	// target's spec made a one-target apply cost a copy of the whole state.
	var want map[string]spec.Target
	m.mu.Lock()
	for name, t := range m.targets {
		if t.spec.Listen.Address != "" {
			if want == nil {
				want = make(map[string]spec.Target)
			}
			want[name] = t.spec
		}
	}
	m.mu.Unlock()
	m.fronts.mu.Lock()
	names := make([]string, 0, len(m.fronts.m)+len(want))
	for name := range m.fronts.m {
		names = append(names, name)
	}
	m.fronts.mu.Unlock()
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if err := m.syncFront(name, want[name]); err != nil {
			for i := range outcomes {
				if outcomes[i].Target == name && outcomes[i].Err == nil {
					outcomes[i].Err = err
				}
			}
		}
	}
}

// syncFront makes the proxy of target name match t (the zero Target when
// the target is gone).
func (m *Manager) syncFront(name string, t spec.Target) error {
	f := m.fronts.get(name)
	switch {
	case t.Listen.Address == "" && f == nil:
		return nil
	case t.Listen.Address == "":
		m.closeFront(name, f, "listen removed")
		return nil
	case f == nil:
		p, err := proxy.New(m.Client(name), m.proxyOptions(t))
		if err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		f = &front{p: p, spec: t}
		m.fronts.set(name, f)
		return m.listen(name, f, t)
	}
	old := f.spec
	if old != t {
		if err := f.p.Update(m.proxyOptions(t)); err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
	}
	bindingChanged := old.Host != t.Host || old.Port != t.Port || old.Username != t.Username ||
		old.Password != t.Password || old.PasswordFile != t.PasswordFile
	if bindingChanged {
		f.p.ReconnectSubscribers() // dedicated connections follow the target
	}
	if f.ln == nil || old.Listen.Address != t.Listen.Address {
		return m.listen(name, f, t)
	}
	m.fronts.mu.Lock()
	f.spec = t
	m.fronts.mu.Unlock()
	return nil
}

// listen opens f's listener on t's address, then closes the one it had:
// clients belong to the proxy, so those accepted on the old address stay
// served. When the new address cannot be opened, the old listener (if any)
// keeps accepting and the error is recorded.
func (m *Manager) listen(name string, f *front, t spec.Target) error {
	ln, err := f.p.Listen(t.Listen.Address)
	m.fronts.mu.Lock()
	old := f.ln
	f.spec = t
	if err != nil {
		f.err = err.Error()
		m.fronts.mu.Unlock()
		m.emit(Event{Type: EventProxyListening, Target: name, Error: f.err})
		return err
	}
	f.ln, f.err = ln, ""
	m.fronts.mu.Unlock()
	e := Event{Type: EventProxyListening, Target: name, New: ln.Addr().String()}
	if old != nil {
		e.Old = old.Addr().String()
		_ = old.Close()
	}
	m.emit(e)
	return nil
}

// closeFront stops f listening and drains its clients within the
// target's timeouts.drain (or less when the manager's Close is forced),
// and forgets it.
func (m *Manager) closeFront(name string, f *front, why string) {
	ctx, cancel := context.WithTimeout(m.life, f.spec.Timeouts.Drain)
	defer cancel()
	err := f.p.Shutdown(ctx)
	m.fronts.set(name, nil)
	e := Event{Type: EventProxyClosed, Target: name, Old: why}
	if de := (*proxy.DrainError)(nil); errors.As(err, &de) {
		e.Error = fmt.Sprintf("%d client(s) still had requests in flight after the drain timeout (%s) and were closed", de.Forced, f.spec.Timeouts.Drain)
	} else if err != nil {
		e.Error = err.Error()
	}
	m.emit(e)
}

// closeFronts drains every proxy, for Close.
func (m *Manager) closeFronts() {
	m.fronts.mu.Lock()
	all := make(map[string]*front, len(m.fronts.m))
	for name, f := range m.fronts.m {
		all[name] = f
	}
	m.fronts.mu.Unlock()
	var wg sync.WaitGroup
	for name, f := range all {
		wg.Go(func() { m.closeFront(name, f, "closed") })
	}
	wg.Wait()
}

// ProxyStatus is a snapshot of a target's proxy: where apps connect, and
// what its clients did (counters since the proxy opened).
type ProxyStatus struct {
	// Address is the listen address configured.
	Address string `json:"address"`
	// Listening is the address the listener accepts on (with the port
	// chosen when the configured one is 0); "" while none is open.
	Listening string `json:"listening,omitempty"`
	// ListenError is why the configured address could not be opened.
	ListenError string `json:"listen_error,omitempty"`
	// Clients is the app connections open now; Subscribers those holding
	// a dedicated pub/sub connection.
	Clients     int `json:"clients"`
	Subscribers int `json:"subscribers"`
	// Accepted counts app connections accepted.
	Accepted uint64 `json:"accepted"`
	// Requests counts requests read from logged-in apps.
	Requests uint64 `json:"requests"`
	// Errors counts requests the proxy answered with an error of its own
	// (refused commands, undecodable frames, backend failures);
	// BackendErrors those the pool failed.
	Errors        uint64 `json:"errors"`
	BackendErrors uint64 `json:"backend_errors"`
	// AuthFailures counts refused logins; LimitHits connections refused
	// at listen.max_clients.
	AuthFailures uint64 `json:"auth_failures"`
	LimitHits    uint64 `json:"limit_hits"`
	// Dropped counts logged-in apps closed by a limit, by reason.
	Dropped ProxyDrops `json:"dropped"`
}

// ProxyDrops counts app connections the proxy closed, by reason (see
// proxy.Drops).
type ProxyDrops struct {
	ReadTimeout  uint64 `json:"read_timeout"`
	WriteTimeout uint64 `json:"write_timeout"`
	BadFrame     uint64 `json:"bad_frame"`
	Forced       uint64 `json:"forced"`
}

// proxyStatus returns the status of target name's proxy, nil if it has
// none.
func (m *Manager) proxyStatus(name string) *ProxyStatus {
	m.fronts.mu.Lock()
	f := m.fronts.m[name]
	if f == nil {
		m.fronts.mu.Unlock()
		return nil
	}
	ps := &ProxyStatus{Address: f.spec.Listen.Address, ListenError: f.err}
	if f.ln != nil {
		ps.Listening = f.ln.Addr().String()
	}
	p := f.p
	m.fronts.mu.Unlock()
	s := p.Stats()
	ps.Clients, ps.Subscribers = s.Clients, s.Subscribers
	ps.Accepted, ps.Requests, ps.Errors, ps.BackendErrors = s.Accepted, s.Requests, s.Errors, s.BackendErrors
	ps.AuthFailures, ps.LimitHits = s.AuthFailures, s.LimitHits
	ps.Dropped = ProxyDrops{ReadTimeout: s.Dropped.ReadTimeout, WriteTimeout: s.Dropped.WriteTimeout,
		BadFrame: s.Dropped.BadFrame, Forced: s.Dropped.Forced}
	return ps
}

// ListenAddr returns the address target name's proxy accepts apps on (the
// port chosen when the configured one is 0), or "" when it has none open.
func (m *Manager) ListenAddr(name string) string {
	if ps := m.proxyStatus(name); ps != nil {
		return ps.Listening
	}
	return ""
}
