package filewatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds every wait for an Update. It is generous because the tests
// run under -race on shared CI machines; a passing test never waits it out.
const wait = 10 * time.Second

// harness is a running watch with its Updates and OnError reports.
type harness struct {
	t      *testing.T
	ch     <-chan Update
	cancel context.CancelFunc

	mu   sync.Mutex
	errs []error // guarded by mu; what OnError received
}

// start watches path with o (polling off unless o sets it) and stops the
// watch when the test ends, checking that the channel is closed.
func start(t *testing.T, path string, o Options) *harness {
	t.Helper()
	if o.PollInterval == 0 {
		o.PollInterval = -1 // prove the fsnotify path unless told otherwise
	}
	h := &harness{t: t}
	user := o.OnError
	o.OnError = func(err error) {
		h.mu.Lock()
		h.errs = append(h.errs, err)
		h.mu.Unlock()
		if user != nil {
			user(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Watch(ctx, path, o)
	if err != nil {
		cancel()
		t.Fatalf("Watch: %v", err)
	}
	h.ch, h.cancel = ch, cancel
	t.Cleanup(func() {
		cancel()
		deadline := time.After(wait)
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-deadline:
				t.Error("channel not closed after cancel")
				return
			}
		}
	})
	return h
}

// next returns the next Update, failing the test if none comes in time.
func (h *harness) next() Update {
	h.t.Helper()
	select {
	case u, ok := <-h.ch:
		if !ok {
			h.t.Fatal("channel closed, want an Update")
		}
		return u
	case <-time.After(wait):
		h.t.Fatal("no Update in time")
		panic("unreachable")
	}
}

// nextData returns the next Update and fails unless it carries want.
func (h *harness) nextData(want string) Update {
	h.t.Helper()
	u := h.next()
	if u.Err != nil || string(u.Data) != want {
		h.t.Fatalf("got Update{Data: %q, Err: %v, Reason: %s}, want Data %q", u.Data, u.Err, u.Reason, want)
	}
	return u
}

// until skips Updates until one carries want, and returns how many Updates
// it read, that one included. Intermediate states (a missing file in the
// middle of a delete and recreate, say) are allowed.
func (h *harness) until(want string) int {
	h.t.Helper()
	for n := 1; ; n++ {
		if u := h.next(); u.Err == nil && string(u.Data) == want {
			return n
		}
	}
}

// nextErr returns the next Update and fails unless it is an error matching
// target.
func (h *harness) nextErr(target error) Update {
	h.t.Helper()
	u := h.next()
	if !errors.Is(u.Err, target) {
		h.t.Fatalf("got Update{Data: %q, Err: %v}, want an error matching %v", u.Data, u.Err, target)
	}
	return u
}

// reports returns what OnError has received so far.
func (h *harness) reports() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replace writes content to a temporary file beside path and renames it
// over path, as most editors save.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
