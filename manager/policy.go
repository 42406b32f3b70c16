package manager

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/fleare-manager/fleare-manager/spec"
)

// One source of truth. While a file is watched (WatchFile), the file is the
// configuration: its next change, a SIGHUP and a restart all apply it, so a
// configuration given through Apply would be silently undone. Apply is
// therefore refused with ErrFileWins while a file is watched, unless
// ApplyOptions.Force says the caller means it; Status then shows the
// forced configuration's Source ("api") beside Watching, until the file
// wins again. With no file watched, Apply is the only source.
//
// An apply may also carry preconditions (ApplyOptions.IfGeneration,
// IfHash): it happens only if the configuration in force is still the one
// the caller read, so that two people applying at once cannot undo each
// other's change unseen. Both checks are made on the reload loop, in turn
// with every other change. A refused apply changes nothing and is not a
// configuration attempt: it is neither counted nor recorded in Status.

// Errors of a refused Apply; the error returned wraps one of them and says
// why.
var (
	// ErrFileWins: a file is watched, so it is the source of truth, and
	// the apply did not set ApplyOptions.Force.
	ErrFileWins = errors.New("manager: a watched file is the source of truth")
	// ErrStale: a precondition of the apply (ApplyOptions.IfGeneration or
	// IfHash) does not hold: the configuration in force changed since the
	// caller read it.
	ErrStale = errors.New("manager: the configuration in force is not the one expected")
)

// AnyHash, as ApplyOptions.IfHash, matches any configuration in force (and
// none before the first), as "If-Match: *" does in HTTP.
const AnyHash = "*"

// ApplyOptions qualify an apply. The zero value applies unconditionally,
// unless a file is watched.
type ApplyOptions struct {
	// Force applies the configuration even while a file is watched. It
	// stays in force until the file changes, SIGHUP or a restart. Default
	// false: refused with ErrFileWins while a file is watched.
	Force bool
	// IfGeneration, when not nil, is the generation the configuration in
	// force must have (Status.Generation; 0 before the first), or the apply
	// is refused with ErrStale. Default nil: any.
	IfGeneration *uint64
	// IfHash, when not "", is the hash the configuration in force must
	// have (Status.Hash, in hex), or AnyHash for any configuration; else
	// the apply is refused with ErrStale. Default "": any.
	IfHash string
	// Hash is the SHA-256 of the bytes the configuration was parsed from;
	// Status reports it as Hash while the configuration is in force.
	// Default zero: none known.
	Hash [32]byte
}

// ApplyWith is Apply with options: the source-of-truth policy's Force, and
// preconditions. See Apply for everything else.
func (m *Manager) ApplyWith(ctx context.Context, cfg *spec.Config, o ApplyOptions) (Result, error) {
	if cfg == nil {
		return Result{}, errors.New("manager: apply: nil configuration")
	}
	rep := m.send(ctx, request{kind: applyRequest, cfg: cfg, source: SourceAPI, apply: o})
	return rep.res, rep.err
}

// SourceAPI is the Source of a configuration given through Apply.
const SourceAPI = "api"

// CheckApply returns the error ApplyWith would return now for o, from the
// source-of-truth policy or a precondition, or nil; it applies nothing. An
// apply made afterwards is checked again, in turn with every other change:
// CheckApply lets a caller refuse early (before reading a request's body,
// say), not skip that check.
func (m *Manager) CheckApply(o ApplyOptions) error { return m.admitWatching(o, m.Watching()) }

// admit checks an apply request against the policy and its preconditions;
// it runs on the reload loop, w being the loop's watch (nil if none).
func (m *Manager) admit(o ApplyOptions, w *watch) error {
	watching := ""
	if w != nil {
		watching = w.path
	}
	return m.admitWatching(o, watching)
}

// admitWatching is admit with the watched file's path ("" if none).
func (m *Manager) admitWatching(o ApplyOptions, watching string) error {
	if watching != "" && !o.Force {
		return fmt.Errorf("%w: the manager follows %s (its next change, SIGHUP or a restart applies it); "+
			"change the file, or force the apply", ErrFileWins, watching)
	}
	if o.IfGeneration == nil && o.IfHash == "" {
		return nil
	}
	m.mu.Lock()
	gen, have := m.gen.Load(), m.config != nil
	hash := ""
	if m.hash != ([32]byte{}) {
		hash = hex.EncodeToString(m.hash[:])
	}
	m.mu.Unlock()
	if o.IfGeneration != nil && *o.IfGeneration != gen {
		return fmt.Errorf("%w: generation %d is in force, not %d", ErrStale, gen, *o.IfGeneration)
	}
	switch {
	case o.IfHash == "":
	case o.IfHash == AnyHash && !have:
		return fmt.Errorf("%w: no configuration is in force yet", ErrStale)
	case o.IfHash != AnyHash && o.IfHash != hash:
		return fmt.Errorf("%w: the configuration in force has hash %s, not %s", ErrStale, orNone(hash), o.IfHash)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none known)"
	}
	return s
}

// Watching returns the file being watched, "" if none: while it is set,
// Apply without Force is refused.
func (m *Manager) Watching() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.watchPath
}
