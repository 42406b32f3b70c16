package reconcile

import (
	"slices"

	"github.com/fleare-manager/fleare-manager/spec"
)

// effect is what a change of one field takes to apply to a running pool.
// Effects are ordered: the largest effect among a target's changes decides
// its Kind.
type effect uint8

const (
	// resizeEffect applies by growing or shrinking the pool in place.
	resizeEffect effect = iota + 1
	// inPlaceEffect applies to the running pool without reconnecting: the
	// next dial, request, retry or drain uses the new value.
	inPlaceEffect
	// replaceEffect changes what a connection is bound to: every connection
	// must be opened again, so the pool is replaced (make-before-break).
	replaceEffect
)

// effects says what a change of each key of a target takes to apply. This
// table is the one place that decides which changes apply in place and
// which force a replace; the package's tests fail when spec gains a key
// that is not listed here.
var effects = map[string]effect{
	"host":           replaceEffect,
	"port":           replaceEffect,
	"username":       replaceEffect,
	"password":       replaceEffect,
	"password_file":  replaceEffect,
	"pool.size":      resizeEffect,
	"pool.max_queue": inPlaceEffect,
	// Pipelining turned on or off changes how connections are used: a new
	// pool. A new depth while it stays on, or 0 for 1 (both off), applies
	// in place: see effectOf.
	"pool.pipeline":     replaceEffect,
	"timeouts.connect":  inPlaceEffect,
	"timeouts.request":  inPlaceEffect,
	"timeouts.drain":    inPlaceEffect,
	"retry.max_retries": inPlaceEffect,
	"retry.interval":    inPlaceEffect,

	// Pool maintenance: the maintainer reads them at its next round.
	"pool.health_check_interval": inPlaceEffect,
	"pool.max_lifetime":          inPlaceEffect,
	"pool.lifetime_jitter":       inPlaceEffect,
	// The listen section configures the proxy in front of the pool: a
	// change applies to the proxy (proxy.Update, or a new listener opened
	// before the old one closes) and never rebuilds the pool.
	"listen.address":       inPlaceEffect,
	"listen.users":         inPlaceEffect,
	"listen.max_clients":   inPlaceEffect,
	"listen.auth_timeout":  inPlaceEffect,
	"listen.read_timeout":  inPlaceEffect,
	"listen.write_timeout": inPlaceEffect,
	"listen.max_pipeline":  inPlaceEffect,
	"listen.client_buffer": inPlaceEffect,
}

// field is one key of spec.Target with the effect of its change.
type field struct {
	spec.Key
	effect effect
}

// fields is every key of spec.Target (Name aside, which is what targets are
// matched by), in the file's order, which is the order in which a plan
// lists an action's changes. A key missing from effects, which only a key
// added to spec without an entry there can cause, is taken as a replace:
// the conservative choice, since a replace rebuilds everything.
var fields = func() []field {
	var fs []field
	for _, k := range spec.Keys() {
		e, ok := effects[k.Path]
		if !ok {
			e = replaceEffect
		}
		fs = append(fs, field{Key: k, effect: e})
	}
	return fs
}()

// effectOf is the effect of f's change from cur to want: the table's,
// but for pool.pipeline, whose change replaces the pool only when it turns
// pipelining on or off (a depth above 1 is on).
func (f *field) effectOf(cur, want *spec.Target) effect {
	if f.Path == "pool.pipeline" && (cur.Pool.Pipeline > 1) == (want.Pool.Pipeline > 1) {
		return inPlaceEffect
	}
	return f.effect
}

// compare lists the changes from cur to want, in the order of fields, and
// the Kind of action they call for. The targets must differ (cur != want);
// a difference no key accounts for is taken as a replace.
func compare(cur, want *spec.Target) (Kind, []Change) {
	var buf [16]Change // on the stack unless more keys changed
	found, worst := buf[:0], effect(0)
	for i := range fields {
		f := &fields[i]
		if f.Same(cur, want) {
			continue
		}
		worst = max(worst, f.effectOf(cur, want))
		oldV, newV := f.Value(cur), f.Value(want)
		// A value that renders the same yet differs changed in a part
		// that is never shown (an app user's password): a secret change.
		if f.Secret || oldV == newV {
			found = append(found, Change{Path: f.Path, Sensitive: true})
		} else {
			found = append(found, Change{Path: f.Path, Old: oldV, New: newV})
		}
	}
	var changes []Change
	if len(found) > 0 {
		changes = slices.Clone(found)
	}
	switch worst {
	case resizeEffect:
		return Resize, changes
	case inPlaceEffect:
		return Update, changes
	default:
		return Replace, changes
	}
}
