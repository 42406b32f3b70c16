// Package reconcile compares a desired configuration with what runs and
// returns the plan that turns one into the other. It is pure: no I/O, no
// clock, no mutation of its inputs, the same plan for the same inputs. A
// runtime applies the plan; a command line shows it before anything happens.
//
//	plan := reconcile.Diff(cfg, current) // cfg from spec, current: the one applied
//	if plan.Empty() {
//		return nil
//	}
//	fmt.Print(plan) // + create a (10.0.0.5:9219, pool 8) ...
//	for _, a := range plan.Actions {
//		switch a.Kind {
//		case reconcile.Create: // open a pool for a.Desired
//		case reconcile.Replace: // open a.Desired, switch once ready, drain a.Current
//		case reconcile.Update: // apply a.Desired's settings (and pool size) in place
//		case reconcile.Resize: // resize to a.Desired.Pool.Size in place
//		case reconcile.Delete: // drain and close a.Current
//		}
//	}
//
// # Actions
//
// A plan holds at most one action per target name. Which action a change
// calls for is decided per field, in a single table (fields.go):
//
//	host, port, username, password, password_file,
//	pool.pipeline turned on (above 1) or off        replace (make-before-break)
//	pool.max_queue, timeouts.*, retry.*,
//	pool.health_check_interval, pool.max_lifetime,
//	pool.lifetime_jitter, pool.pipeline (a new
//	depth while on, or 0 for 1)                     update, in place
//	pool.size                                       resize, in place
//
// A target takes the largest effect among its changed fields: any binding
// field makes it a Replace, which carries the other changes along; else any
// in-place setting makes it an Update, which carries a new pool size too;
// else it is a Resize. Create and Delete cover targets that appear or go.
//
// # Health
//
// A target's health never changes the plan: pools heal themselves, so a
// target whose spec matches needs nothing however unwell it is, and Diff
// compares configurations only.
//
// # Order
//
// Creates come first, then replaces, updates, resizes and deletes, each kind
// by name: new capacity is planned before any is taken away. See Plan.
//
// # Output
//
// Plan.Render (and String) writes a human form in the manner of terraform's
// plan; Plan.MarshalJSON writes a versioned JSON form documented at
// FormatVersion; Action implements slog.LogValuer. None of them ever shows a
// secret: a password change reads "password changed".
package reconcile
