package manager

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// ReloadResult says how a configuration attempt ended.
type ReloadResult string

// Reload results.
const (
	// ReloadApplied: the configuration was accepted and every action
	// completed.
	ReloadApplied ReloadResult = "applied"
	// ReloadPartial: the configuration was accepted, but some actions did
	// not complete (their targets keep converging in the background).
	ReloadPartial ReloadResult = "partial"
	// ReloadRejected: the configuration did not load or validate, and
	// nothing changed.
	ReloadRejected ReloadResult = "rejected"
	// ReloadUnchanged: the configuration (from any source: Apply, the
	// watched file, SIGHUP) holds the settings in force, so there was
	// nothing to do and no config.applied is emitted.
	ReloadUnchanged ReloadResult = "unchanged"
)

// Reload describes the last configuration attempt.
type Reload struct {
	Time       time.Time    `json:"time"`
	Source     string       `json:"source"`
	Result     ReloadResult `json:"result"`
	Generation uint64       `json:"generation"`
	// Errors holds every problem: each failed action, or each error of a
	// rejected file with its line.
	Errors []string `json:"errors,omitempty"`
}

// ReloadCounts counts configuration attempts (from Apply, the watched file
// and SIGHUP) by result.
type ReloadCounts struct {
	Applied   uint64 `json:"applied"`
	Partial   uint64 `json:"partial"`
	Rejected  uint64 `json:"rejected"`
	Unchanged uint64 `json:"unchanged"`
}

// FormatVersion is the version of the JSON forms this package writes:
// Status (which carries it as "format_version"), Result and Event, and the
// admin API's replies built from them. They follow the project's JSON
// conventions: keys in snake_case, durations as Go duration strings
// ("1.5s"), times in RFC 3339 ("2026-01-02T03:04:05.123456789Z"), enums as
// their words. Within a version, keys may be added, never renamed, removed
// or given another meaning.
const FormatVersion = 1

// Status is a snapshot of the manager and its targets.
type Status struct {
	// Generation counts accepted configurations that changed something.
	Generation uint64 `json:"generation"`
	// Source is where the current configuration came from: a file path, or
	// "api". Empty before the first one.
	Source string `json:"source,omitempty"`
	// Hash is the SHA-256 (hex) of the bytes the configuration in force was
	// read from: the file's, or those given with ApplyOptions.Hash; empty
	// when not known. ApplyOptions.IfHash compares with it.
	Hash string `json:"hash,omitempty"`
	// Watching is the file being watched, if any: while it is, the file is
	// the source of truth (see ApplyOptions), and a Source other than
	// Watching is a forced apply that the file's next change, SIGHUP or a
	// restart undoes.
	Watching string `json:"watching,omitempty"`
	// LastReload is the last configuration attempt, nil before the first.
	LastReload *Reload `json:"last_reload,omitempty"`
	// LastSuccess is when a configuration attempt last succeeded (applied,
	// partly applied, or unchanged); zero before the first.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Reloads counts configuration attempts since New.
	Reloads ReloadCounts `json:"reloads"`
	// EventsDropped counts events lost by subscribers that fell behind.
	EventsDropped uint64 `json:"events_dropped"`
	// LogDropped counts events not logged because the log fell behind
	// (Options.EventBuffer of them wait to be written).
	LogDropped uint64 `json:"log_dropped"`
	// Targets has one entry per configured target, sorted by name.
	Targets []TargetStatus `json:"targets"`
	// Draining lists pools taken out of service that are still closing.
	Draining []DrainingPool `json:"draining,omitempty"`
}

// MarshalJSON writes the status with "format_version" first.
func (s Status) MarshalJSON() ([]byte, error) {
	type plain Status
	return json.Marshal(struct {
		FormatVersion int `json:"format_version"`
		plain
	}{FormatVersion, plain(s)})
}

// TargetStatus is a snapshot of one target: its serving pool's
// fleare.Stats (Addr is the pool's host:port; counters start from zero when
// a replace opens a new pool), and the target's own facts.
type TargetStatus struct {
	Name string
	fleare.Stats
	// LastChange is when the target's configuration last changed.
	LastChange time.Time
	// Pending is the new pool of a replace, filling and not serving yet;
	// nil if none.
	Pending *PendingPool
	// Proxy is the target's proxy, where apps connect; nil when the
	// target has no listen section.
	Proxy *ProxyStatus
}

// PendingPool is the new half of a replace, not serving yet.
type PendingPool struct {
	fleare.Stats
}

// DrainingPool is a pool being closed.
type DrainingPool struct {
	Target   string `json:"target"`
	Endpoint string `json:"endpoint"`
	Why      string `json:"why"`
	InUse    int    `json:"in_use"`
}

// Status returns a snapshot of the manager and every target.
func (m *Manager) Status() Status {
	type entry struct {
		name       string
		active     *pool
		pending    *pool
		lastChange time.Time
	}
	m.mu.Lock()
	st := Status{Generation: m.gen.Load(), Source: m.source, Watching: m.watchPath, Reloads: m.reloads, LastSuccess: m.lastSuccess}
	if m.hash != ([32]byte{}) {
		st.Hash = hex.EncodeToString(m.hash[:])
	}
	if !m.reload.Time.IsZero() {
		r := m.reload
		r.Errors = slices.Clone(r.Errors)
		st.LastReload = &r
	}
	entries := make([]entry, 0, len(m.targets))
	for name, t := range m.targets {
		e := entry{name: name, active: t.active.Load(), lastChange: t.lastChange}
		if t.pending != nil {
			e.pending = t.pending.pool
		}
		entries = append(entries, e)
	}
	draining := make(map[*pool]string, len(m.draining))
	for p, why := range m.draining {
		draining[p] = why
	}
	m.mu.Unlock()

	// Pool stats take each pool's lock: gather them without holding mu.
	st.EventsDropped = m.events.Dropped()
	if m.log != nil {
		st.LogDropped = m.log.dropped.Load()
	}
	st.Targets = make([]TargetStatus, 0, len(entries))
	for _, e := range entries {
		ts := TargetStatus{Name: e.name, Stats: e.active.client.Stats(), LastChange: e.lastChange}
		if e.pending != nil {
			ts.Pending = &PendingPool{Stats: e.pending.client.Stats()}
		}
		ts.Proxy = m.proxyStatus(e.name)
		st.Targets = append(st.Targets, ts)
	}
	slices.SortFunc(st.Targets, func(a, b TargetStatus) int { return strings.Compare(a.Name, b.Name) })
	for p, why := range draining {
		ps := p.client.Stats()
		st.Draining = append(st.Draining, DrainingPool{Target: p.target, Endpoint: ps.Addr, Why: why, InUse: ps.InUse})
	}
	slices.SortFunc(st.Draining, func(a, b DrainingPool) int {
		return strings.Compare(a.Target+" "+a.Endpoint, b.Target+" "+b.Endpoint)
	})
	return st
}
