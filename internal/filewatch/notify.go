package filewatch

import (
	"os"
	"slices"

	"github.com/fsnotify/fsnotify"
)

// startNotify creates the fsnotify watcher if there is none and brings its
// watches in line with the path. On failure it schedules a retry.
func (w *watcher) startNotify() {
	if w.o.PollOnly {
		return
	}
	if w.fsw == nil {
		fsw, err := fsnotify.NewWatcher()
		if err != nil {
			w.reportOnce("new watcher", "", err)
			w.scheduleRetry()
			return
		}
		w.fsw = fsw
		clear(w.watched)
	}
	w.syncWatches()
}

// stopNotify closes the fsnotify watcher, which joins its goroutine.
func (w *watcher) stopNotify() {
	if w.fsw == nil {
		return
	}
	_ = w.fsw.Close() // the watcher is discarded either way
	w.fsw = nil
	clear(w.watched)
}

// restartNotify handles an fsnotify error: events may have been lost and the
// watcher may be broken, so it is replaced by a fresh one and the file is
// read again once things are quiet.
func (w *watcher) restartNotify(err error) {
	w.report("notify", "", err)
	w.stopNotify()
	w.startNotify()
	w.trigger(ReasonRewatch)
}

// syncWatches resolves the path again and makes the fsnotify watches match:
// watches on directories no longer on the way to the file are removed, and
// a directory is (re)added when it is not watched or is no longer the one
// that was (removed and recreated, or renamed over). A directory that cannot
// be added is retried with backoff.
func (w *watcher) syncWatches() {
	if w.fsw == nil {
		return
	}
	ws, err := resolve(w.path)
	if err != nil {
		w.reportOnce("resolve", w.path, err)
	}
	w.relevant = ws.relevant
	have := make(map[string]bool, len(w.watched))
	for _, p := range w.fsw.WatchList() {
		have[p] = true
	}
	for dir := range w.watched {
		if !slices.Contains(ws.dirs, dir) {
			if have[dir] {
				_ = w.fsw.Remove(dir) // may already be gone with the directory
			}
			delete(w.watched, dir)
		}
	}
	failed := false
	for _, dir := range ws.dirs {
		fi, _ := os.Stat(dir) // nil if gone; then Add fails below
		if old := w.watched[dir]; have[dir] && old != nil && fi != nil && os.SameFile(old, fi) {
			continue
		}
		if have[dir] {
			_ = w.fsw.Remove(dir)
		}
		if err := w.add(dir); err != nil {
			delete(w.watched, dir)
			w.reportOnce("add", dir, err)
			failed = true
			continue
		}
		w.watched[dir] = fi
	}
	if failed {
		w.scheduleRetry()
		return
	}
	w.retryDelay, w.lastReport = 0, ""
}

func (w *watcher) add(dir string) error {
	if w.o.beforeAdd != nil {
		if err := w.o.beforeAdd(dir); err != nil {
			return err
		}
	}
	return w.fsw.Add(dir)
}

// scheduleRetry arms the retry timer, doubling the delay each time up to
// maxRetry; a successful syncWatches resets it.
func (w *watcher) scheduleRetry() {
	if w.retrying {
		return
	}
	w.retryDelay = min(max(2*w.retryDelay, minRetry), maxRetry)
	w.retrying = true
	w.retry.Reset(w.retryDelay)
}

// reportOnce reports trouble that persists across retries only when it
// differs from the last such report, so a lasting failure is not repeated
// every retry.
func (w *watcher) reportOnce(op, path string, err error) {
	e := &WatchError{Op: op, Path: path, Err: err}
	if msg := e.Error(); msg != w.lastReport {
		w.lastReport = msg
		w.report(op, path, err)
	}
}
