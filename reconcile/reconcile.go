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
	// Replace opens a new pool for a target whose change needs new
	// connections (host, port, credentials, pool.pipeline: see effects in
	// fields.go), switches to it once it is ready, then drains and closes
	// the old one. It carries every other change along.
	Replace
	// Update applies settings that take effect in place (pool.max_queue,
	// timeouts, retry: see effects in fields.go) to the running pool, and
	// resizes it too when pool.size changed as well. A change of the listen
	// section (the proxy in front of the pool) is an Update too: it never
	// rebuilds the pool.
	Update
	// Resize grows or shrinks the running pool to pool.size, in place.
	Resize
	// Delete drains and closes the pool of a target that is no longer
	// desired.
	Delete

	// lastKind is the last Kind; a new kind goes before it, and in
	// kindNames and kindSigns.
	lastKind = Delete
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

// Plan is the ordered list of actions that turns one configuration into
// another, one action per target that differs.
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

// Diff returns the plan that turns the configuration current, the one a
// runtime has applied, into desired. It does no I/O and modifies neither
// argument. A nil configuration has no targets: Diff(cfg, nil) creates every
// target of cfg, and Diff(nil, cfg) deletes them all.
//
// Targets are matched by name. A desired target that is not current is
// created; a current target that is not desired is deleted; a target whose
// current spec differs from the desired one is replaced, updated or resized
// as the fields that changed require (Replace when any binding field
// changed, else Update when any in-place setting other than pool.size
// changed, else Resize). Equal specs (==) need nothing: a runtime's pools
// heal on their own, so a target as configured needs no action however
// unwell it is.
//
// Both target lists are expected sorted by name, as spec.Config guarantees;
// Diff then walks them together once, without a map, and allocates only for
// the targets that differ. Unsorted input is sorted into a copy first.
// Duplicate names, which spec rejects, are ignored after the first.
func Diff(desired, current *spec.Config) Plan {
	acts := merge(sortedTargets(targetsOf(desired)), sortedTargets(targetsOf(current)))
	// merge emits actions in name order; a stable sort by kind keeps that
	// order within each kind.
	slices.SortStableFunc(acts, func(a, b Action) int { return cmp.Compare(a.Kind, b.Kind) })
	return Plan{Actions: acts}
}

// targetsOf returns cfg's targets; none for a nil cfg.
func targetsOf(cfg *spec.Config) []spec.Target {
	if cfg == nil {
		return nil
	}
	return cfg.Targets
}

// merge walks want and have, both sorted by name, together and returns an
// action for each name that needs one, in name order.
func merge(want, have []spec.Target) []Action {
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
			c = strings.Compare(want[i].Name, have[j].Name)
		}
		switch {
		case c < 0:
			acts = append(acts, Action{Kind: Create, Name: want[i].Name, Desired: want[i]})
			i = skipSame(want, i)
		case c > 0:
			acts = append(acts, Action{Kind: Delete, Name: have[j].Name, Current: have[j]})
			j = skipSame(have, j)
		default:
			if a, ok := step(&want[i], &have[j]); ok {
				acts = append(acts, a)
			}
			i, j = skipSame(want, i), skipSame(have, j)
		}
	}
	return acts
}

// step decides what turns cur into want, for a name present in both.
func step(want, cur *spec.Target) (Action, bool) {
	if *cur == *want {
		return Action{}, false
	}
	kind, changes := compare(cur, want)
	return Action{Kind: kind, Name: want.Name, Desired: *want, Current: *cur, Changes: changes}, true
}

// skipSame returns the index of the first target after ts[i] with another
// name.
func skipSame(ts []spec.Target, i int) int {
	n := ts[i].Name
	for i++; i < len(ts) && ts[i].Name == n; i++ {
	}
	return i
}

func byName(a, b spec.Target) int { return strings.Compare(a.Name, b.Name) }

// sortedTargets returns ts, or a sorted copy when ts is not sorted by name.
func sortedTargets(ts []spec.Target) []spec.Target {
	if slices.IsSortedFunc(ts, byName) {
		return ts
	}
	ts = slices.Clone(ts)
	slices.SortStableFunc(ts, byName)
	return ts
}
