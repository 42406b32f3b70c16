package manager

import (
	"context"
	"crypto/sha256"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/filewatch"
)

func update(content string) filewatch.Update {
	return filewatch.Update{Data: []byte(content), Hash: sha256.Sum256([]byte(content))}
}

// A file met half-written is held for a settling time: if the rest arrives
// meanwhile it is never reported; if nothing newer arrives it is rejected.
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
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.reloadLoop(ctx, "f.yaml", updates, nil)
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

		updates <- update("version: 1\ntarg") // half written
		time.Sleep(settleFactor * m.opts.Debounce / 2)
		updates <- update(good) // the rest, within the settling time
		synctest.Wait()
		if e := next(); e.Type != EventConfigApplied {
			t.Fatalf("event %v, want config.applied", e)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if len(events) != 0 {
			t.Fatalf("unexpected event %v", <-events)
		}

		updates <- update("version: 1\ntargets: [") // stays broken
		time.Sleep(settleFactor*m.opts.Debounce - time.Millisecond)
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
