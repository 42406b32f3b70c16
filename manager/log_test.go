package manager_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// stalledHandler is a slog handler whose writes block until release, as a
// log written to a stalled pipe does.
type stalledHandler struct {
	gate chan struct{} // closed by release
	once sync.Once
	mu   sync.Mutex
	msgs []string
}

func (h *stalledHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *stalledHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *stalledHandler) WithGroup(string) slog.Handler            { return h }
func (h *stalledHandler) Handle(_ context.Context, r slog.Record) error {
	<-h.gate
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *stalledHandler) release() { h.once.Do(func() { close(h.gate) }) }
func (h *stalledHandler) written() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}

// A log that does not take writes stalls nothing: applies, pool events and
// requests go on, the events the log has no room for are counted, and
// Close writes what is queued and joins the log's goroutine.
func TestStalledLogStallsNothing(t *testing.T) {
	srv := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	h := &stalledHandler{gate: make(chan struct{})}
	t.Cleanup(h.release) // runs after the manager's Close, should the test fail early
	m, err := manager.New(manager.Options{Logger: slog.New(h), EventBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Context(t)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for size := 1; size <= 4; size++ {
			testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: srv, Size: size}))
			if err := m.Client("a").Ping(ctx); err != nil {
				t.Error(err)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("applies and requests waited for the stalled log")
	}
	if st := m.Status(); st.LogDropped == 0 || st.EventsDropped != 0 {
		t.Fatalf("log dropped %d events, subscribers %d; want some by the log, none by subscribers", st.LogDropped, st.EventsDropped)
	}
	if n := len(h.written()); n != 0 {
		t.Fatalf("%d records written through a stalled handler", n)
	}

	h.release()
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	// The count of what was dropped comes first, or right after the record
	// the logger held when it stalled.
	got := h.written()
	if i := slices.Index(got, "log queue full: events not logged (see the event stream or status)"); i < 0 || i > 1 {
		t.Fatalf("records after release: %q; want the dropped count first or second", got)
	}
	if later := h.written(); len(later) != len(got) {
		t.Fatalf("records written after Close returned: %d, then %d", len(got), len(later))
	}
}
