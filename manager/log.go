package manager

import (
	"context"
	"log/slog"
	"sync/atomic"
)

// logger writes the manager's events to Options.Logger from a goroutine of
// its own, so that no one who emits an event waits for the log: pool
// events are emitted by whoever unlocks the pool, often a caller returning
// a connection, and a stalled stderr must not stall requests. Events wait
// in a bounded queue; when it is full they are dropped and counted, and the
// logger says how many once it catches up.
type logger struct {
	log     *slog.Logger
	queue   chan Event
	stop    chan struct{} // closed by close: drain the queue and return
	done    chan struct{} // closed when the goroutine has returned
	dropped atomic.Uint64 // events the queue had no room for
}

// newLogger starts the goroutine that writes to log, with room for buffer
// events; it returns nil for a nil log.
func newLogger(log *slog.Logger, buffer int) *logger {
	if log == nil {
		return nil
	}
	l := &logger{log: log, queue: make(chan Event, buffer), stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// enqueue offers e to the logger without waiting.
func (l *logger) enqueue(e Event) {
	select {
	case l.queue <- e:
	default:
		l.dropped.Add(1)
	}
}

// run writes events until close, then those still queued.
func (l *logger) run() {
	defer close(l.done)
	var reported uint64
	for {
		select {
		case e := <-l.queue:
			reported = l.write(e, reported)
		case <-l.stop:
			for {
				select {
				case e := <-l.queue:
					reported = l.write(e, reported)
				default:
					return
				}
			}
		}
	}
}

// write logs e, after a warning when events were dropped since the last
// one (reported of them already said), and returns the dropped count said.
func (l *logger) write(e Event, reported uint64) uint64 {
	if n := l.dropped.Load(); n > reported {
		l.log.Warn("log queue full: events not logged (see the event stream or status)", "dropped", n-reported)
		reported = n
	}
	logEvent(l.log, e)
	return reported
}

// close writes what is queued and stops the goroutine; events enqueued
// later are dropped without a word. It may be called once.
func (l *logger) close() {
	close(l.stop)
	<-l.done
}

// logEvent writes e to the configured logger: pool state changes at debug,
// errors and rejected configurations at warn, everything else at info.
func logEvent(log *slog.Logger, e Event) {
	level := slog.LevelInfo
	switch {
	case e.Type == EventStateChanged || e.Type == EventConnecting:
		level = slog.LevelDebug
	case e.Error != "" || e.Type == EventConfigRejected || e.Type == EventError:
		level = slog.LevelWarn
	}
	ctx := context.Background()
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("target", e.Target)
	add("endpoint", e.Endpoint)
	add("old", e.Old)
	add("new", e.New)
	add("source", e.Source)
	add("via", e.via)
	add("error", e.Error)
	if e.Generation != 0 {
		attrs = append(attrs, slog.Uint64("generation", e.Generation))
	}
	if len(e.Changes) > 0 {
		attrs = append(attrs, slog.Any("changes", e.Changes))
	}
	if len(e.Errors) > 0 {
		attrs = append(attrs, slog.Any("errors", e.Errors))
	}
	msg := string(e.Type)
	if e.Type == logConfigUnchanged {
		msg += ": the configuration holds the settings in force; nothing to do"
	}
	log.LogAttrs(ctx, level, msg, attrs...)
}
