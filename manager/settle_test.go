package manager

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/filewatch"
)

// save writes content to path and returns the watcher's reading of it.
func save(t *testing.T, path, content string) filewatch.Update {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return filewatch.Update{Data: []byte(content), Hash: sha256.Sum256([]byte(content))}
}

// A file met half-written is held for a settling time: if the rest arrives
// meanwhile, or the file holds more by then, the half is never reported; if
// the file still holds it, it is rejected. Content read at the end of the
// settling time is never applied: only what the watcher delivers is.
func TestReloadLoopSettles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := New(Options{Debounce: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		events, cancel := m.Subscribe()
		defer cancel()
		// A watch fed by the test instead of a file watcher.
		updates := make(chan filewatch.Update)
		path := filepath.Join(t.TempDir(), "f.yaml")
		w := &watch{path: path, updates: updates, cancel: func() {}}
		const good = "version: 1\ntargets: {}\n"
		if err := m.send(t.Context(), request{kind: watchRequest, w: w, first: save(t, path, good)}).err; err != nil {
			t.Fatal(err)
		}
		next := func() Event {
			t.Helper()
			select {
			case e := <-events:
				return e
			default:
				t.Fatal("no event")
				return Event{}
			}
		}
		synctest.Wait()
		if e := next(); e.Type != EventConfigApplied {
			t.Fatalf("event %v, want config.applied", e)
		}
		// unchanged waits for the n-th reading that changed nothing, and
		// checks that no event came.
		unchanged := func(n uint64) {
			t.Helper()
			synctest.Wait()
			if st := m.Status(); st.Reloads.Unchanged != n || st.Reloads.Rejected != 0 {
				t.Fatalf("reloads %+v, want %d unchanged and nothing rejected", st.Reloads, n)
			}
			if len(events) != 0 {
				t.Fatalf("unexpected event %v", <-events)
			}
		}

		updates <- save(t, path, "version: 1\ntarg") // half written
		time.Sleep(m.settleTime() / 2)
		updates <- save(t, path, good+"# v2\n") // the rest, within the settling time
		unchanged(1)
		time.Sleep(time.Hour)
		unchanged(1)

		// More is written, and the watcher has not told yet when the
		// settling time ends: the half is not rejected, and what the file
		// holds then is not applied either, since a writer may still be at
		// work; the watcher's next delivery is.
		updates <- save(t, path, "version: 1\ntargets: {") // half written
		whole := save(t, path, "version: 1\ntargets: {}\n# whole\n")
		time.Sleep(m.settleTime())
		unchanged(1)
		updates <- whole
		unchanged(2)

		updates <- save(t, path, "version: 1\ntargets: [") // stays broken
		time.Sleep(m.settleTime() - time.Millisecond)
		synctest.Wait()
		if len(events) != 0 {
			t.Fatalf("rejected before the settling time: %v", <-events)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if e := next(); e.Type != EventConfigRejected || len(e.Errors) == 0 {
			t.Fatalf("event %v, want config.rejected", e)
		}

		close(updates) // the watch ends
		synctest.Wait()
		if st := m.Status(); st.Watching != "" {
			t.Fatalf("still watching %s after the watch ended", st.Watching)
		}
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
