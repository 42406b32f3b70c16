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
// identical to the configuration in force yields no plan. WatchFile returns
// an error, and does not watch, when the file cannot be read or is invalid
// at the start, or when a file is already being watched.
func (m *Manager) WatchFile(ctx context.Context, path string) error {
	if err := m.acquire(ctx); err != nil {
		return fmt.Errorf("manager: watch %s: %w", path, err)
	}
	defer m.release()
	m.mu.Lock()
	if m.watchPath != "" {
		cur := m.watchPath
		m.mu.Unlock()
		return fmt.Errorf("manager: watch %s: already watching %s", path, cur)
	}
	m.watchPath = path
	m.mu.Unlock()

	wctx, cancel := context.WithCancel(ctx)
	updates, err := filewatch.Watch(wctx, path, m.watchOptions())
	if err == nil {
		err = m.initialLoad(wctx, path, updates)
	}
	if err != nil {
		cancel()
		for range updates {
		}
		m.mu.Lock()
		m.watchPath = ""
		m.mu.Unlock()
		return err
	}
	var hup chan os.Signal
	if m.opts.ReloadOnSIGHUP {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
	}
	m.wg.Go(func() {
		defer func() {
			if hup != nil {
				signal.Stop(hup)
			}
			cancel()
			for range updates { // until the watcher has stopped
			}
			m.mu.Lock()
			m.watchPath = ""
			m.mu.Unlock()
		}()
		m.reloadLoop(wctx, path, updates, hup)
	})
	return nil
}

// initialLoad applies the watcher's first reading of the file; the caller
// holds the apply token.
func (m *Manager) initialLoad(ctx context.Context, path string, updates <-chan filewatch.Update) error {
	var u filewatch.Update
	select {
	case u = <-updates:
	case <-ctx.Done():
		return fmt.Errorf("manager: watch %s: %w", path, ctx.Err())
	}
	cfg, err := load(path, u)
	if err != nil {
		m.Reject(path, err)
		return err
	}
	_, err = m.applyHeld(ctx, cfg, path, u.Hash)
	if errors.Is(err, ErrClosed) {
		return err
	}
	return nil // targets that failed keep converging; the file was applied
}

// reloadLoop applies each new content of the file until ctx ends or the
// manager closes. A content that does not load is held for a settling time:
// if the file still holds it then, it is rejected; if the file changed
// meanwhile (a writer is at work, and the watcher has not said so yet), it
// is not, and the new content is left to the watcher, which delivers it
// once it has settled: content read under a writer is never applied.
func (m *Manager) reloadLoop(ctx context.Context, path string, updates <-chan filewatch.Update, hup <-chan os.Signal) {
	var (
		held   filewatch.Update // the latest content, refused and not yet reported
		why    error            // why held was refused
		settle <-chan time.Time // fires when held is to be reported
	)
	for {
		var u filewatch.Update
		select {
		case <-ctx.Done():
			return
		case <-m.closing:
			return
		case <-settle:
			settle = nil
			if u = readNow(path); sameReading(u, held) {
				m.Reject(path, why)
			}
			// Otherwise the file changed, perhaps under a writer still at
			// work: the watcher delivers it once it has settled.
			continue
		case <-hup:
			u = readNow(path)
		case next, ok := <-updates:
			if !ok {
				return
			}
			u = next
		}
		settle = nil
		if err := m.reloadFile(ctx, path, u); err != nil {
			held, why, settle = u, err, time.After(m.settleTime())
		}
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

// reloadFile applies one content of the file, unless it is the content in
// force. It returns why the content could not be loaded.
func (m *Manager) reloadFile(ctx context.Context, path string, u filewatch.Update) error {
	cfg, err := load(path, u)
	if err != nil {
		return err
	}
	if err := m.acquire(ctx); err != nil {
		return nil // closing, or the watch is ending
	}
	defer m.release()
	m.mu.Lock()
	unchanged := m.source == path && m.hash == u.Hash
	if unchanged {
		m.recordLocked(Reload{Time: time.Now(), Source: path, Result: ReloadUnchanged, Generation: m.gen.Load()})
	}
	m.mu.Unlock()
	if !unchanged {
		_, _ = m.applyHeld(ctx, cfg, path, u.Hash) // outcomes are in the event and the status
	}
	return nil
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

// Reject records that a configuration from source (a file path, or a name
// the caller chooses) was refused, and why: it becomes the last reload in
// Status, with every problem of a spec error on its own line, and an
// EventConfigRejected says so. Nothing else changes. Both hold at most
// spec.MaxProblems problems and a line counting the others, so a file with
// a million mistakes costs no more to keep than one with a hundred.
// WatchFile calls it for the file it watches; code that parses
// configurations itself (an admin API, say) calls it to report theirs the
// same way.
func (m *Manager) Reject(source string, err error) {
	lines := spec.Lines(err)
	m.mu.Lock()
	m.recordLocked(Reload{Time: time.Now(), Source: source, Result: ReloadRejected, Generation: m.gen.Load(), Errors: lines})
	m.mu.Unlock()
	m.emit(Event{Type: EventConfigRejected, Source: source, Generation: m.gen.Load(),
		Error: fmt.Sprintf("%d problem(s); the configuration in force is kept", spec.Count(err)), Errors: lines})
}

// watchTrouble logs a problem of the file watch itself (it recovers on its
// own).
func (m *Manager) watchTrouble(err error) {
	if m.opts.Logger != nil {
		m.opts.Logger.Warn("config watch trouble; recovering", "error", err)
	}
}
