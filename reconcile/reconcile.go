package reconcile

import (
	"cmp"
	"slices"
	"strings"

	"github.com/fleare-manager/fleare-manager/spec"
)

// Kind is what an Action does to a target. Kinds are declared in the order a
// Plan lists them.
type Kind uint8

const (
	// Create opens a pool for a target that has none.
	Create Kind = iota + 1
	// Replace opens a new pool for a target whose binding (host, port,
	// username, password or password_file) changed, switches to it once it
	// is ready, then drains and closes the old one. It carries every other
	// change along.
	Replace
	// Update applies settings that take effect in place (pool.max_queue,
	// timeouts, retry) to the running pool, and resizes it too when
	// pool.size changed as well.
	Update
	// Resize grows or shrinks the running pool to pool.size, in place.
	Resize
	// Delete drains and closes the pool of a target that is no longer
	// desired.
	Delete
)

// Change is one field whose value differs between an action's Current and
// Desired targets.
type Change struct {
	// Path is the field's place in the configuration file: "host",
	// "pool.size", "timeouts.request".
	Path string
	// Old and New are the field's values as the file writes them ("8",
	// "2s"). Both are empty when Sensitive is set.
	Old, New string
	// Sensitive marks a secret (the password): the change is reported, its
	// values are not, not even their length.
	Sensitive bool
}

// Action is one step of a Plan: what to do to one target.
type Action struct {
	// Kind is what to do.
	Kind Kind
	// Name is the target's name.
	Name string
	// Desired is the target as it should be; zero for Delete.
	Desired spec.Target
	// Current is the target as it runs; zero for Create.
	Current spec.Target
	// Changes lists, for Replace, Update and Resize, each field that
	// differs between Current and Desired, in a fixed field order. It is
	// empty for Create and Delete, whose whole target is in Desired or
	// Current.
	Changes []Change
}

// Plan is the ordered list of actions that turns a State into a Config, one
// action per target that differs.
//
// Actions are ordered by Kind (creates, replaces, updates, resizes, deletes),
// then by target name in byte order. The order runs from actions that only
// add capacity to actions that only remove it: a create opens new
// connections and closes none; a replace opens a new pool before it closes
// the old one; an update neither opens nor closes; a resize may close
// connections; a delete only closes. A runtime that applies the plan in this
// order, finishing (or at least starting) each kind before the next, never
// takes capacity away before the capacity that takes its place is there: a
// reload that moves load from target b to a new target a has a ready before b
// drains.
type Plan struct {
	// Actions are the plan's steps, in the order above.
	Actions []Action
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Actions) == 0 }

// State is what a runtime holds: the targets it runs and how they are.
type State struct {
	// Targets has one entry per target name, sorted by name. Diff accepts
	// entries in any order (it sorts a copy, leaving State untouched) but
	// sorted input is faster. When a name appears more than once, Diff uses
	// the first entry that is not draining, else the first entry.
	Targets []Running
}

// Running is one target as a runtime holds it.
type Running struct {
	// Target is the spec the target's live pool was built from.
	Target spec.Target
	// Status is what the runtime reports about the pool.
	Status Status
}

// Status is a runtime's report on one target's pool, and what Diff makes of
// it.
type Status struct {
	// State is the runtime's word for the pool's connection state, such as
	// "connecting", "connected", "disconnected" or "error". Diff does not
	// read it: a running target whose spec equals the desired one needs no
	// action whatever its health, because pools reconnect on their own, and
	// one whose spec differs gets the same action healthy or not. It is here
	// so that a State is a faithful snapshot to show beside a plan.
	State string
	// Draining is set when the pool is being drained and closed after its
	// target was deleted. A draining target is on its way out: Diff plans
	// nothing for it when it is not desired, and a Create (a fresh pool,
	// the draining one left to finish) when it is desired again.
	Draining bool
}

// StateOf returns the State a runtime reaches once it has applied cfg fully:
// each target running, connected and not draining. Diff(b, StateOf(a)) is the
// plan that turns configuration a into b, and Diff(c, StateOf(c)) is empty.
func StateOf(cfg *spec.Config) State {
	if cfg == nil || len(cfg.Targets) == 0 {
		return State{}
	}
	s := State{Targets: make([]Running, len(cfg.Targets))}
	for i, t := range cfg.Targets {
		s.Targets[i] = Running{Target: t, Status: Status{State: "connected"}}
	}
	return s
}

// Diff returns the plan that turns actual into desired. It does no I/O and
// modifies neither argument. A nil desired is an empty configuration: every
// running target is deleted.
//
// Targets are matched by name. A desired target with no running counterpart
// (or only a draining one) is created; a running, non-draining target that is
// not desired is deleted; a target whose running spec differs from the
// desired one is replaced, updated or resized as the fields that changed
// require (Replace when any binding field changed, else Update when any
// in-place setting other than pool.size changed, else Resize). Equal specs
// (==) need nothing, whatever Status.State says.
//
// Both target lists are expected sorted by name, as spec.Config guarantees
// and State documents; Diff then walks them together once, without a map,
// and allocates only for the targets that differ. Unsorted input is sorted
// into a copy first. Duplicate desired names, which spec rejects, are
// ignored after the first.
func Diff(desired *spec.Config, actual State) Plan {
	var want []spec.Target
	if desired != nil {
		want = desired.Targets
	}
	acts := merge(sortedDesired(want), sortedActual(actual.Targets))
	// merge emits actions in name order; a stable sort by kind keeps that
	// order within each kind.
	slices.SortStableFunc(acts, func(a, b Action) int { return cmp.Compare(a.Kind, b.Kind) })
	return Plan{Actions: acts}
}

// merge walks want and have, both sorted by name, together and returns an
// action for each name that needs one, in name order.
func merge(want []spec.Target, have []Running) []Action {
	var acts []Action
	i, j := 0, 0
	for i < len(want) || j < len(have) {
		var c int // <0: want[i] only; >0: have[j] only; 0: both
		switch {
		case j == len(have):
			c = -1
		case i == len(want):
			c = 1
		default:
			c = strings.Compare(want[i].Name, have[j].Target.Name)
		}
		switch {
		case c < 0:
			acts = append(acts, Action{Kind: Create, Name: want[i].Name, Desired: want[i]})
			i = skipDesired(want, i)
		case c > 0:
			r, next := pickRunning(have, j)
			if !r.Status.Draining {
				acts = append(acts, Action{Kind: Delete, Name: r.Target.Name, Current: r.Target})
			}
			j = next
		default:
			r, next := pickRunning(have, j)
			if a, ok := step(&want[i], r); ok {
				acts = append(acts, a)
			}
			i, j = skipDesired(want, i), next
		}
	}
	return acts
}

// step decides what turns r into want, for a name present in both.
func step(want *spec.Target, r *Running) (Action, bool) {
	if r.Status.Draining {
		return Action{Kind: Create, Name: want.Name, Desired: *want}, true
	}
	if r.Target == *want {
		return Action{}, false
	}
	kind, changes := compare(&r.Target, want)
	return Action{Kind: kind, Name: want.Name, Desired: *want, Current: r.Target, Changes: changes}, true
}

// skipDesired returns the index of the first target after want[i] with
// another name.
func skipDesired(want []spec.Target, i int) int {
	n := want[i].Name
	for i++; i < len(want) && want[i].Name == n; i++ {
	}
	return i
}

// pickRunning returns the entry to use among the run of entries named like
// have[j] (the first not draining, else the first) and the index after the
// run.
func pickRunning(have []Running, j int) (*Running, int) {
	pick := &have[j]
	k := j + 1
	for ; k < len(have) && have[k].Target.Name == pick.Target.Name; k++ {
		if pick.Status.Draining && !have[k].Status.Draining {
			pick = &have[k]
		}
	}
	return pick, k
}

func byTargetName(a, b spec.Target) int { return strings.Compare(a.Name, b.Name) }
func byRunningName(a, b Running) int    { return strings.Compare(a.Target.Name, b.Target.Name) }

// sortedDesired returns ts, or a sorted copy when ts is not sorted by name.
func sortedDesired(ts []spec.Target) []spec.Target {
	if slices.IsSortedFunc(ts, byTargetName) {
		return ts
	}
	ts = slices.Clone(ts)
	slices.SortStableFunc(ts, byTargetName)
	return ts
}

// sortedActual returns rs, or a sorted copy when rs is not sorted by name.
func sortedActual(rs []Running) []Running {
	if slices.IsSortedFunc(rs, byRunningName) {
		return rs
	}
	rs = slices.Clone(rs)
	slices.SortStableFunc(rs, byRunningName)
	return rs
}
