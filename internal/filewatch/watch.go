package filewatch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Bounds of the backoff between attempts to re-establish a failed watch.
const (
	minRetry = 10 * time.Millisecond
	maxRetry = time.Second
)

// maxBurst is how many Debounce periods a burst of events may last before
// the file is read anyway.
const maxBurst = 10

// errEventsClosed is reported if fsnotify closes its channels on its own.
var errEventsClosed = errors.New("fsnotify closed its event channel")

// Watch starts watching the file at path and returns the channel its
// Updates arrive on. The first Update (Reason ReasonInitial) is the state of
// the file at start: its content, or Err if it cannot be read. After that an
// Update is delivered each time the file's state differs from the last one
// delivered: new content (by SHA-256), a read error, or a different read
// error. Rewriting identical content delivers nothing.
//
// Updates are not queued: if the receiver is slow, a newer state replaces
// an undelivered one, so the receiver always ends up with the latest state.
// The watcher never blocks on the receiver and never stops on its own;
// read errors are delivered and watch errors repaired (see Options.OnError).
//
// When ctx ends, the watcher stops, discards any undelivered Update,
// releases its file-system watches and closes the channel once every
// goroutine it started has returned.
//
// Watch returns an error only for invalid Options or a path that cannot be
// made absolute.
func Watch(ctx context.Context, path string, o Options) (<-chan Update, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, fmt.Errorf("%w: empty path", ErrBadOptions)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("filewatch: %w", err)
	}
	w := &watcher{
		path:    abs,
		o:       o,
		out:     make(chan Update),
		watched: make(map[string]os.FileInfo),
		timer:   time.NewTimer(time.Hour),
		retry:   time.NewTimer(time.Hour),
	}
	w.timer.Stop()
	w.retry.Stop()
	go w.run(ctx)
	return w.out, nil
}

// watcher is the state of one Watch. Every field is owned by the goroutine
// running run; nothing else touches them, so there is no lock.
type watcher struct {
	path string  // absolute
	o    Options // defaults applied
	out  chan Update

	fsw      *fsnotify.Watcher      // nil when PollOnly or while it must be recreated
	watched  map[string]os.FileInfo // dir -> identity when added (nil if unknown)
	relevant map[string]struct{}    // from the last resolve: paths whose events count

	timer       *time.Timer // debounce; armed while bursting
	bursting    bool
	burstStart  time.Time
	burstReason Reason
	written     bool // the burst's last change to the file was a write in place

	// A read that needs confirming (see needsConfirm) found candidate at
	// candidateAt; it is delivered if a read Settle later finds it again.
	confirming  bool
	candidate   state
	candidateAt time.Time

	retry      *time.Timer // re-establish the watch; armed while retrying
	retrying   bool
	retryDelay time.Duration
	lastReport string // text of the last reportOnce, cleared by a good sync

	pending    Update // the next Update to deliver, if hasPending
	hasPending bool
	sentAny    bool  // an Update has been delivered
	sent       state // the state of the last Update delivered
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	defer w.stopNotify()
	defer w.timer.Stop()
	defer w.retry.Stop()

	var poll <-chan time.Time
	if w.o.PollInterval > 0 {
		t := time.NewTicker(w.o.PollInterval)
		defer t.Stop()
		poll = t.C
	}
	w.startNotify()
	w.read(ReasonInitial)
	for {
		c := w.armed()
		select {
		case <-ctx.Done():
			return // an undelivered Update is discarded
		case c.out <- w.pending:
			w.sentAny, w.sent = true, w.pending.state()
			w.pending, w.hasPending = Update{}, false
		case ev, ok := <-c.events:
			if !ok {
				w.restartNotify(errEventsClosed)
			} else if w.isRelevant(ev.Name) {
				w.noteEvent(ev)
			}
		case err, ok := <-c.errs:
			if !ok {
				err = errEventsClosed
			}
			w.restartNotify(err)
		case err := <-w.o.injectErrs:
			w.restartNotify(err)
		case <-c.debounce:
			w.bursting, w.written = false, false
			w.syncWatches()
			w.read(w.burstReason)
		case <-poll:
			w.syncWatches()
			if !w.written && !w.confirming { // those read when they settle
				w.read(ReasonPoll)
			}
		case <-c.retry:
			w.retrying = false
			w.startNotify()
			w.trigger(ReasonRewatch)
		}
	}
}

// channels are what run waits on besides ctx and the poll ticker; each is
// nil while it cannot fire, which disables its select case.
type channels struct {
	out             chan<- Update
	events          <-chan fsnotify.Event
	errs            <-chan error
	debounce, retry <-chan time.Time
}

func (w *watcher) armed() channels {
	var c channels
	if w.hasPending {
		c.out = w.out
	}
	if w.fsw != nil {
		c.events, c.errs = w.fsw.Events, w.fsw.Errors
	}
	if w.bursting {
		c.debounce = w.timer.C
	}
	if w.retrying {
		c.retry = w.retry.C
	}
	return c
}

// noteEvent records a relevant file-system event: whether it leaves the
// file being written in place (a write) or replaced in one step (a name
// created, renamed or removed), and starts or extends the burst.
func (w *watcher) noteEvent(ev fsnotify.Event) {
	switch {
	case ev.Has(fsnotify.Write):
		w.written = true
	case ev.Has(fsnotify.Create), ev.Has(fsnotify.Rename), ev.Has(fsnotify.Remove):
		w.written = false
	}
	w.trigger(ReasonNotify)
}

// trigger notes a reason to read the file and (re)arms the debounce timer,
// so the read happens once things have been quiet for Debounce, or when the
// burst has lasted maxBurst times that; or, while the file is being written
// in place, once it has been quiet for Settle, however long that takes. The
// burst keeps its first reason.
func (w *watcher) trigger(r Reason) {
	now := time.Now()
	if !w.bursting {
		w.bursting, w.burstStart, w.burstReason = true, now, r
	}
	if w.written {
		w.timer.Reset(w.o.Settle)
		return
	}
	wait := w.o.Debounce
	if left := w.burstStart.Add(maxBurst * w.o.Debounce).Sub(now); left < wait {
		wait = max(left, 0)
	}
	w.timer.Reset(wait)
}

// needsConfirm reports whether a read for reason r must find the same state
// twice, Settle apart, to be delivered: no event told whether a writer was
// still at work.
func needsConfirm(r Reason) bool { return r == ReasonPoll || r == ReasonRewatch }

// confirmLater makes s the candidate state and reads the file again, for r,
// once Settle has passed.
func (w *watcher) confirmLater(s state, r Reason) {
	now := time.Now()
	w.confirming, w.candidate, w.candidateAt = true, s, now
	w.bursting, w.burstStart, w.burstReason = true, now, r
	w.timer.Reset(w.o.Settle)
}

// read reads and hashes the file and makes the result the pending Update,
// unless it is the state the receiver already has, or a state that must be
// found again before it is delivered.
func (w *watcher) read(r Reason) {
	data, err := readFile(w.path, w.o.MaxSize)
	u := Update{Data: data, Err: err, Reason: r}
	if err == nil {
		u.Hash = sha256.Sum256(data)
	}
	s := u.state()
	confirmed := w.confirming && s == w.candidate && time.Since(w.candidateAt) >= w.o.Settle
	w.confirming = false
	switch {
	case w.sentAny && s == w.sent:
		w.pending, w.hasPending = Update{}, false // back to what the receiver has
	case w.hasPending && s == w.pending.state():
		// Already pending; keep the first reason.
	case w.sentAny && needsConfirm(r) && !confirmed:
		w.confirmLater(s, r)
	default:
		if !w.sentAny {
			u.Reason = ReasonInitial
		}
		w.pending, w.hasPending = u, true
	}
}

func (w *watcher) isRelevant(name string) bool {
	_, ok := w.relevant[filepath.Clean(name)]
	return ok
}

func (w *watcher) report(op, path string, err error) {
	if w.o.OnError != nil {
		w.o.OnError(&WatchError{Op: op, Path: path, Err: err})
	}
}
