package filewatch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/goleak"
)

func TestInitialUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "a: 1\n")
	h := start(t, path, Options{})
	u := h.nextData("a: 1\n")
	if u.Reason != ReasonInitial {
		t.Errorf("first Reason = %q, want %q", u.Reason, ReasonInitial)
	}
	if u.Hash != sha256.Sum256([]byte("a: 1\n")) {
		t.Error("Hash is not the SHA-256 of Data")
	}
}

func TestInitiallyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	h := start(t, path, Options{})
	u := h.nextErr(fs.ErrNotExist)
	if u.Reason != ReasonInitial || u.Hash != ([32]byte{}) {
		t.Errorf("got Reason %q, Hash %x; want initial and a zero hash", u.Reason, u.Hash)
	}
	write(t, path, "late")
	if u := h.nextData("late"); u.Reason != ReasonNotify {
		t.Errorf("Reason = %q, want %q", u.Reason, ReasonNotify)
	}
}

func TestWriteInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "v1")
	h := start(t, path, Options{})
	h.nextData("v1")
	write(t, path, "v2")
	h.nextData("v2")
	// Appending through an open descriptor, as a logger or an editor might.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	mustDo(t, err)
	_, err = f.WriteString("+more")
	mustDo(t, errors.Join(err, f.Close()))
	h.nextData("v2+more")
}

func TestTempThenRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "v1")
	h := start(t, path, Options{})
	h.nextData("v1")
	replace(t, path, "v2")
	h.nextData("v2")

	// vim with backup: move the original aside, write anew, drop the backup.
	backup := path + "~"
	mustDo(t, os.Rename(path, backup))
	write(t, path, "v3")
	mustDo(t, os.Remove(backup))
	h.until("v3")
}

func TestDeleteAndRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "v1")
	h := start(t, path, Options{})
	h.nextData("v1")
	mustDo(t, os.Remove(path))
	write(t, path, "v2")
	h.until("v2") // a "not exist" Update may come between if the debounce fired
	write(t, path, "v3")
	h.nextData("v3") // and the new file is watched
}

// configMap lays out a Kubernetes ConfigMap volume in dir: config.yaml ->
// ..data/config.yaml, ..data -> ..<version>, and returns a function that
// publishes a new version the way the kubelet does, by renaming a fresh
// ..data_tmp link over ..data and then removing the old version directory
// (unless keepOld, which leaves the swap of ..data as the only sign).
func configMap(t *testing.T, dir, content string, keepOld bool) (update func(content string)) {
	t.Helper()
	version := 0
	publish := func(content string) {
		version++
		name := fmt.Sprintf("..2026_01_01_00_00_%02d.%d", version, version)
		mustDo(t, os.Mkdir(filepath.Join(dir, name), 0o755))
		write(t, filepath.Join(dir, name, "config.yaml"), content)
		tmp := filepath.Join(dir, "..data_tmp")
		mustDo(t, os.Symlink(name, tmp))
		old, _ := os.Readlink(filepath.Join(dir, "..data"))
		mustDo(t, os.Rename(tmp, filepath.Join(dir, "..data")))
		if old != "" && !keepOld {
			mustDo(t, os.RemoveAll(filepath.Join(dir, old)))
		}
	}
	publish(content)
	mustDo(t, os.Symlink(filepath.Join("..data", "config.yaml"), filepath.Join(dir, "config.yaml")))
	return publish
}

func TestConfigMapSwap(t *testing.T) {
	for _, keepOld := range []bool{false, true} {
		t.Run(fmt.Sprintf("keepOld=%v", keepOld), func(t *testing.T) {
			dir := t.TempDir()
			update := configMap(t, dir, "v1", keepOld)
			h := start(t, filepath.Join(dir, "config.yaml"), Options{})
			h.nextData("v1")
			update("v2")
			h.nextData("v2")
			update("v3") // the watch followed the swap
			h.nextData("v3")
		})
	}
}

func TestSymlinkToAnotherDirectory(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"links", "b", "c"} {
		mustDo(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	path := filepath.Join(root, "links", "config.yaml")
	inB, inC := filepath.Join(root, "b", "real.yaml"), filepath.Join(root, "c", "real.yaml")
	write(t, inB, "b1")
	write(t, inC, "c1")
	mustDo(t, os.Symlink(inB, path))
	h := start(t, path, Options{})
	h.nextData("b1")

	write(t, inB, "b2") // written in place in the target's directory
	h.nextData("b2")

	tmp := path + ".new" // retarget the link atomically
	mustDo(t, os.Symlink(inC, tmp))
	mustDo(t, os.Rename(tmp, path))
	h.nextData("c1")
	write(t, inC, "c2")
	h.nextData("c2")

	write(t, inB, "b3") // no longer the target: nothing delivered
	write(t, inC, "c3")
	h.nextData("c3")
}

func TestDirectoryRemovedAndRecreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf")
	path := filepath.Join(dir, "config.yaml")
	mustDo(t, os.Mkdir(dir, 0o755))
	write(t, path, "v1")
	h := start(t, path, Options{})
	h.nextData("v1")

	mustDo(t, os.RemoveAll(dir))
	h.nextErr(fs.ErrNotExist)
	mustDo(t, os.Mkdir(dir, 0o755))
	write(t, path, "v2")
	h.until("v2")
	write(t, path, "v3") // the new directory is watched
	h.nextData("v3")
}

func TestDirectoryRenamedAway(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "conf")
	path := filepath.Join(dir, "config.yaml")
	mustDo(t, os.Mkdir(dir, 0o755))
	write(t, path, "v1")
	h := start(t, path, Options{})
	h.nextData("v1")

	moved := filepath.Join(root, "conf.old")
	mustDo(t, os.Rename(dir, moved))
	h.nextErr(fs.ErrNotExist)

	// Another directory renamed into place, as a deploy tool might.
	staged := filepath.Join(root, "conf.new")
	mustDo(t, os.Mkdir(staged, 0o755))
	write(t, filepath.Join(staged, "config.yaml"), "v2")
	mustDo(t, os.Rename(staged, dir))
	h.nextData("v2")

	write(t, filepath.Join(moved, "config.yaml"), "stale") // not the path any more
	write(t, path, "v3")
	h.nextData("v3")
}

func TestPollOnlySeesChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "v1")
	h := start(t, path, Options{PollOnly: true, PollInterval: 20 * time.Millisecond})
	h.nextData("v1")
	write(t, path, "v2")
	if u := h.nextData("v2"); u.Reason != ReasonPoll {
		t.Errorf("Reason = %q, want %q", u.Reason, ReasonPoll)
	}
}

// An fsnotify error (here a queue overflow, injected) replaces the watcher
// and re-reads the file; a change made while events were being lost is
// delivered, and later changes are seen by the new watcher.
func TestWatchErrorRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "v1")
	inject := make(chan error)
	o := Options{injectErrs: inject}
	// OnError runs before the watcher is replaced: a write made there is
	// one the old watcher's lost events would have carried.
	o.OnError = func(err error) {
		if errors.Is(err, fsnotify.ErrEventOverflow) {
			// Not write: t.Fatal is for the test goroutine only.
			if err := os.WriteFile(path, []byte("during overflow"), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	h := start(t, path, o)
	h.nextData("v1")

	inject <- fsnotify.ErrEventOverflow
	if u := h.nextData("during overflow"); u.Reason != ReasonRewatch {
		t.Errorf("Reason = %q, want %q", u.Reason, ReasonRewatch)
	}
	reps := h.reports()
	var we *WatchError
	if len(reps) != 1 || !errors.As(reps[0], &we) || we.Op != "notify" || !errors.Is(reps[0], fsnotify.ErrEventOverflow) {
		t.Errorf("OnError got %v, want one *WatchError{Op: notify} wrapping ErrEventOverflow", reps)
	}
	write(t, path, "v2")
	if u := h.nextData("v2"); u.Reason != ReasonNotify {
		t.Errorf("after recovery Reason = %q, want %q", u.Reason, ReasonNotify)
	}
}

func TestBurstIsCoalesced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "start")
	h := start(t, path, Options{})
	h.nextData("start")
	const writes = 50
	for i := range writes {
		write(t, path, fmt.Sprintf("v%02d", i))
	}
	n := h.until(fmt.Sprintf("v%02d", writes-1))
	t.Logf("%d writes gave %d Updates", writes, n)
	if n > 5 {
		t.Errorf("%d writes gave %d Updates, want a few", writes, n)
	}
	write(t, path, "after")
	h.nextData("after") // nothing else was queued behind the last write
}

// A burst of replacements that never goes quiet is still read, once it has
// lasted maxBurst debounce periods: each replacement is a whole file.
func TestEndlessBurstStillDelivers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "start")
	h := start(t, path, Options{Debounce: 10 * time.Millisecond})
	h.nextData("start")
	deadline := time.Now().Add(wait)
	for i := 0; ; i++ {
		replace(t, path, fmt.Sprintf("v%d", i)) // never quiet for 10 ms
		select {
		case u := <-h.ch:
			if u.Err != nil || string(u.Data) == "start" {
				t.Fatalf("got Update{Data: %q, Err: %v}, want a write of the burst", u.Data, u.Err)
			}
			t.Logf("delivered %q after %d replacements", u.Data, i+1)
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no Update during a burst that never goes quiet")
		}
	}
}

func TestIdenticalContentDeliversNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "same")
	h := start(t, path, Options{})
	h.nextData("same")
	write(t, path, "same")
	replace(t, path, "same")
	mustDo(t, os.Chmod(path, 0o600))
	write(t, path, "different")
	h.nextData("different") // not a second "same"
}

// A read error is delivered once, not again while it persists, and the next
// good read is delivered even if the content is what it was before.
func TestReadErrorDeliveredOnceThenRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "v1")
	h := start(t, path, Options{})
	h.nextData("v1")

	mustDo(t, os.Remove(path))
	mustDo(t, os.Mkdir(path, 0o755)) // unreadable even for root
	h.nextErr(ErrNotRegular)
	mustDo(t, os.Chmod(path, 0o700)) // an event, the same error again
	mustDo(t, os.Remove(path))
	write(t, path, "v1")
	if u := h.next(); u.Err != nil || string(u.Data) != "v1" {
		t.Fatalf("got Update{Data: %q, Err: %v}, want v1 again", u.Data, u.Err)
	}
}

func TestTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "123456789")
	h := start(t, path, Options{MaxSize: 8})
	h.nextErr(ErrTooLarge)
	write(t, path, "1234")
	h.nextData("1234")
}

func TestCancelClosesChannelAndLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "v1")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Watch(ctx, path, Options{PollInterval: 10 * time.Millisecond})
	mustDo(t, err)
	<-ch
	write(t, path, "v2") // leave an Update pending: cancel must not wait for it
	cancel()
	for range ch { // ends only when the channel is closed
	}
}

func TestBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"negative debounce":      {Debounce: -1},
		"negative max size":      {MaxSize: -1},
		"poll only without poll": {PollOnly: true, PollInterval: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Watch(context.Background(), "x", o); !errors.Is(err, ErrBadOptions) {
				t.Errorf("Watch = %v, want ErrBadOptions", err)
			}
		})
	}
	if _, err := Watch(context.Background(), "", Options{}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Watch with empty path = %v, want ErrBadOptions", err)
	}
}

// A directory that cannot be watched is retried with backoff and reported
// once; the read after the watch is finally added catches what changed
// meanwhile, and notifications work from then on.
func TestFailedWatchIsRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "v1")
	const failures = 4
	attempts := 0 // only touched by the watching goroutine
	o := Options{beforeAdd: func(string) error {
		attempts++
		if attempts == failures {
			// No watch yet: only the re-read can see this.
			if err := os.WriteFile(path, []byte("while unwatched"), 0o644); err != nil {
				t.Error(err)
			}
		}
		if attempts <= failures {
			return syscall.ENOSPC // as when inotify's watch limit is reached
		}
		return nil
	}}
	h := start(t, path, o)
	h.nextData("v1") // the initial read does not wait for the watch
	if u := h.nextData("while unwatched"); u.Reason != ReasonRewatch {
		t.Errorf("Reason = %q, want %q", u.Reason, ReasonRewatch)
	}
	reps := h.reports()
	var we *WatchError
	if len(reps) != 1 || !errors.As(reps[0], &we) || we.Op != "add" || !errors.Is(we, syscall.ENOSPC) {
		t.Errorf("OnError got %v, want one *WatchError{Op: add} wrapping ENOSPC for %d failures", reps, failures)
	}
	write(t, path, "v2")
	h.nextData("v2")
}

func TestRetryBackoffIsBounded(t *testing.T) {
	w := &watcher{retry: time.NewTimer(time.Hour)}
	defer w.retry.Stop()
	var got []time.Duration
	for range 10 {
		w.retrying = false // as when the timer has fired
		w.scheduleRetry()
		got = append(got, w.retryDelay)
	}
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(got, want) {
		t.Errorf("retry delays %v, want %v", got, want)
	}
}
