package manager

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/filewatch"
	"github.com/fleare-manager/fleare-manager/internal/safefile"
	"github.com/fleare-manager/fleare-manager/spec"
)

// A file that does not load is given settleFactor times Options.Debounce,
// and at least minSettle, to change again before it is rejected: an editor
// or a tool may be half-way through writing it, and a busy machine may
// stall a writer between truncating a file and writing it.
const (
	settleFactor = 4
	minSettle    = 250 * time.Millisecond
)

// settleTime is how long a refused content is held before it is rejected.
func (m *Manager) settleTime() time.Duration {
	return max(settleFactor*m.opts.Debounce, minSettle)
}

// WatchFile loads the configuration file at path, applies it, and returns;
// from then on, until ctx ends or the manager is closed, it applies the file
// again each time its content changes, however it is saved (in place,
// renamed over, deleted and recreated, or a Kubernetes ConfigMap volume),
// and on SIGHUP when Options.ReloadOnSIGHUP is set.
//
// A file that does not load or validate changes nothing: the configuration
// in force stays, and an EventConfigRejected lists every problem. Content
// that changes nothing is recorded as unchanged. WatchFile returns an
// error, and does not watch, when the file cannot be read or is invalid at
// the start, or when a file is already being watched.
func (m *Manager) WatchFile(ctx context.Context, path string) error {
	m.mu.Lock()
	cur := m.watchPath
	m.mu.Unlock()
	if cur != "" {
		return fmt.Errorf("manager: watch %s: already watching %s", path, cur)
	}
	wctx, cancel := context.WithCancel(ctx)
	updates, err := filewatch.Watch(wctx, path, m.watchOptions())
	if err != nil {
		cancel()
		return err
	}
	w := &watch{path: path, updates: updates, cancel: cancel}
	var first filewatch.Update
	select {
	case first = <-updates:
	case <-ctx.Done():
		err = fmt.Errorf("manager: watch %s: %w", path, ctx.Err())
	}
	if err == nil {
		err = m.send(ctx, request{kind: watchRequest, w: w, first: first, source: path}).err
	}
	if err != nil {
		cancel()
		for range updates { // until the watcher has stopped
		}
		return err
	}
	return nil
}

// watch is a watched file as the reload loop follows it. Only the loop
// touches it once WatchFile has handed it over.
type watch struct {
	path    string
	updates <-chan filewatch.Update // the file's readings; closed when the watch ends
	cancel  context.CancelFunc      // ends the file watcher
	hup     chan os.Signal          // SIGHUP, with Options.ReloadOnSIGHUP; else nil

	held   filewatch.Update // the latest reading, refused and not yet reported
	why    error            // why held was refused
	settle <-chan time.Time // fires when held is to be reported; nil when nothing is held
}

// channels returns what the reload loop waits on for w: none for a nil w.
func (w *watch) channels() (<-chan filewatch.Update, <-chan os.Signal, <-chan time.Time) {
	if w == nil {
		return nil, nil, nil
	}
	return w.updates, w.hup, w.settle
}

// startWatch applies the watch's first reading and, if it loads, makes the
// file watched; it runs on the reload loop. An invalid first reading is
// rejected and returned.
func (m *Manager) startWatch(ctx context.Context, w *watch, first filewatch.Update) error {
	cfg, err := load(w.path, first)
	if err != nil {
		m.reject(w.path, err)
		return err
	}
	if _, err := m.applyConfig(ctx, cfg, w.path, first.Hash, "file"); errors.Is(err, ErrClosed) {
		return err
	} // targets that failed keep converging; the file was applied
	if m.opts.ReloadOnSIGHUP {
		w.hup = make(chan os.Signal, 1)
		signal.Notify(w.hup, syscall.SIGHUP)
	}
	m.mu.Lock()
	m.watchPath = w.path
	m.mu.Unlock()
	return nil
}

// stop ends w, whose context may have ended already, and waits for its
// file watcher to stop. It runs on the reload loop; a nil w is no watch.
func (w *watch) stop(m *Manager) {
	if w == nil {
		return
	}
	if w.hup != nil {
		signal.Stop(w.hup)
	}
	w.cancel()
	for range w.updates {
	}
	m.mu.Lock()
	m.watchPath = ""
	m.mu.Unlock()
}

// fileReading applies one reading of the watched file, made because of via
// ("file": it changed; "SIGHUP"). A reading that does not load is held for
// a settling time: if the file still holds it then, it is rejected (see
// settled).
func (m *Manager) fileReading(w *watch, u filewatch.Update, via string) {
	w.settle = nil
	cfg, err := load(w.path, u)
	if err != nil {
		w.held, w.why, w.settle = u, err, time.After(m.settleTime())
		return
	}
	// A file reload is not the caller's: it runs until its pools are
	// ready or fail, or the manager closes.
	_, _ = m.applyConfig(m.life, cfg, w.path, u.Hash, via) // outcomes are in the event and the status
}

// settled ends the settling time of a held reading: rejected if the file
// still holds it. If the file changed meanwhile, perhaps under a writer
// still at work, the watcher delivers the new content once it has settled:
// content read under a writer is never applied.
func (m *Manager) settled(w *watch) {
	w.settle = nil
	if u := readNow(w.path); sameReading(u, w.held) {
		m.reject(w.path, w.why)
	}
}

// sameReading reports whether two readings of the file found the same
// thing: the same content, or an error both times.
func sameReading(a, b filewatch.Update) bool {
	if a.Err != nil || b.Err != nil {
		return a.Err != nil && b.Err != nil
	}
	return a.Hash == b.Hash
}

// load parses one reading of the configuration file.
func load(path string, u filewatch.Update) (*spec.Config, error) {
	if u.Err != nil {
		return nil, fmt.Errorf("manager: read %s: %w", path, u.Err)
	}
	return spec.Parse(path, u.Data)
}

// watchOptions are the file watch's: a file written in place is applied
// only once it has had no write for the settling time, and every read is
// bounded (see safefile).
func (m *Manager) watchOptions() filewatch.Options {
	return filewatch.Options{
		Debounce:     m.opts.Debounce,
		PollInterval: m.opts.PollInterval,
		Settle:       m.settleTime(),
		MaxSize:      spec.MaxConfigSize,
		OnError:      m.watchTrouble,
	}
}

// readNow reads the file at once, for SIGHUP and the end of a settling
// time, as the watcher does: a regular file only, at most
// spec.MaxConfigSize bytes, never blocking.
func readNow(path string) filewatch.Update {
	data, err := safefile.ReadFile(path, spec.MaxConfigSize)
	if err != nil {
		return filewatch.Update{Err: err}
	}
	return filewatch.Update{Data: data, Hash: sha256.Sum256(data)}
}

// watchTrouble logs a problem of the file watch itself (it recovers on its
// own).
func (m *Manager) watchTrouble(err error) {
	if m.opts.Logger != nil {
		m.opts.Logger.Warn("config watch trouble; recovering", "error", err)
	}
}
