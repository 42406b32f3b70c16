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
		ctx, stop := context.WithCancel(t.Context())
		updates := make(chan filewatch.Update)
		path := filepath.Join(t.TempDir(), "f.yaml")
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.reloadLoop(ctx, path, updates, nil)
		}()
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
		const good = "version: 1\ntargets: {}\n"

		updates <- save(t, path, "version: 1\ntarg") // half written
		time.Sleep(m.settleTime() / 2)
		updates <- save(t, path, good) // the rest, within the settling time
		synctest.Wait()
		if e := next(); e.Type != EventConfigApplied {
			t.Fatalf("event %v, want config.applied", e)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if len(events) != 0 {
			t.Fatalf("unexpected event %v", <-events)
		}

		// More is written, and the watcher has not told yet when the
		// settling time ends: the half is not rejected, and what the file
		// holds then is not applied either, since a writer may still be at
		// work; the watcher's next delivery is.
		updates <- save(t, path, "version: 1\ntargets: {") // half written
		whole := save(t, path, "version: 1\ntargets: {}\n# whole\n")
		time.Sleep(m.settleTime())
		synctest.Wait()
		if len(events) != 0 {
			t.Fatalf("event %v at the end of the settling time, want none", <-events)
		}
		updates <- whole
		synctest.Wait()
		if e := next(); e.Type != EventConfigApplied {
			t.Fatalf("event %v, want config.applied", e)
		}

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

		stop()
		<-done
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
