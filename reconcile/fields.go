package reconcile

import (
	"strconv"
	"time"

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

// field is one configurable field of spec.Target.
type field struct {
	// path is the field's place in the configuration file.
	path string
	// effect is what a change of the field takes to apply.
	effect effect
	// same reports whether the field is equal in both targets.
	same func(a, b *spec.Target) bool
	// show formats the field's value for a Change. It is nil for sensitive
	// fields, whose values never leave this package: a change of one shows
	// only that it happened.
	show func(t *spec.Target) string
}

// row builds a field read by get and shown by show (nil: sensitive).
func row[V comparable](path string, e effect, get func(*spec.Target) V, show func(V) string) field {
	f := field{path: path, effect: e, same: func(a, b *spec.Target) bool { return get(a) == get(b) }}
	if show != nil {
		f.show = func(t *spec.Target) string { return show(get(t)) }
	}
	return f
}

func str(s string) string { return s }

// duration formats d as the configuration file writes it ("2s", "1m30s").
func duration(d time.Duration) string { return d.String() }

// fields classifies every field of spec.Target except Name, which is the key
// targets are matched by. This table is the one place that decides which
// changes apply in place and which force a replace; the package's tests fail
// when spec.Target gains a field that is not listed here.
//
// The order is the order in which a plan lists an action's changes: binding
// fields first, then the pool, timeouts and retry, as in the file.
var fields = [...]field{
	row("host", replaceEffect, func(t *spec.Target) string { return t.Host }, str),
	row("port", replaceEffect, func(t *spec.Target) int { return t.Port }, strconv.Itoa),
	row("username", replaceEffect, func(t *spec.Target) string { return t.Username }, str),
	row("password", replaceEffect, func(t *spec.Target) spec.Secret { return t.Password }, nil), // sensitive
	row("password_file", replaceEffect, func(t *spec.Target) string { return t.PasswordFile }, str),
	row("pool.size", resizeEffect, func(t *spec.Target) int { return t.Pool.Size }, strconv.Itoa),
	row("pool.max_queue", inPlaceEffect, func(t *spec.Target) int { return t.Pool.MaxQueue }, strconv.Itoa),
	// Pipelining on or off changes how connections are used: a new pool.
	row("pool.pipeline", replaceEffect, func(t *spec.Target) int { return t.Pool.Pipeline }, strconv.Itoa),
	row("timeouts.connect", inPlaceEffect, func(t *spec.Target) time.Duration { return t.Timeouts.Connect }, duration),
	row("timeouts.request", inPlaceEffect, func(t *spec.Target) time.Duration { return t.Timeouts.Request }, duration),
	row("timeouts.drain", inPlaceEffect, func(t *spec.Target) time.Duration { return t.Timeouts.Drain }, duration),
	row("retry.max_retries", inPlaceEffect, func(t *spec.Target) int { return t.Retry.MaxRetries }, strconv.Itoa),
	row("retry.interval", inPlaceEffect, func(t *spec.Target) time.Duration { return t.Retry.Interval }, duration),
}

// compare lists the changes from cur to want, in table order, and the Kind
// of action they call for. The targets must differ (cur != want). A
// difference the table does not account for, which only a field added to
// spec.Target without a row here can cause, is taken as a replace: the
// conservative choice, since a replace rebuilds everything.
func compare(cur, want *spec.Target) (Kind, []Change) {
	var buf [len(fields)]Change
	n, worst := 0, effect(0)
	for i := range fields {
		f := &fields[i]
		if f.same(cur, want) {
			continue
		}
		worst = max(worst, f.effect)
		if f.show == nil {
			buf[n] = Change{Path: f.path, Sensitive: true}
		} else {
			buf[n] = Change{Path: f.path, Old: f.show(cur), New: f.show(want)}
		}
		n++
	}
	var changes []Change
	if n > 0 {
		changes = make([]Change, n)
		copy(changes, buf[:n])
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
