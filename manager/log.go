package manager

import (
	"context"
	"log/slog"
)

// logEvent writes e to the configured logger: pool state changes at debug,
// errors and rejected configurations at warn, everything else at info.
func (m *Manager) logEvent(e Event) {
	level := slog.LevelInfo
	switch {
	case e.Type == EventStateChanged || e.Type == EventConnecting:
		level = slog.LevelDebug
	case e.Error != "" || e.Type == EventConfigRejected || e.Type == EventError:
		level = slog.LevelWarn
	}
	ctx := context.Background()
	if !m.opts.Logger.Enabled(ctx, level) {
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
	m.opts.Logger.LogAttrs(ctx, level, string(e.Type), attrs...)
}
