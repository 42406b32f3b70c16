package filewatch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// slowWriter writes lines into a file in place, one at a time with a pause
// after each, through one descriptor, and records how long the file stayed
// unwritten after each line: the time a partial file was there to be read.
type slowWriter struct {
	lines []string
	pause time.Duration
	quiet map[string]time.Duration // partial content -> time until the next write
}

func (sw *slowWriter) run(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var content strings.Builder
	last := time.Now()
	for _, line := range sw.lines {
		sw.quiet[content.String()] = time.Since(last)
		if _, err := f.WriteString(line); err != nil {
			return err
		}
		content.WriteString(line)
		last = time.Now()
		time.Sleep(sw.pause)
	}
	return nil
}

// checkNoPartial runs the writer and reads Updates until the whole content
// arrives, then fails if a partial content was delivered that had not been
// left unwritten for settle.
func checkNoPartial(t *testing.T, h *harness, path string, sw *slowWriter, settle time.Duration) {
	t.Helper()
	sw.quiet = make(map[string]time.Duration)
	done := make(chan error, 1)
	go func() { done <- sw.run(path) }()
	whole := strings.Join(sw.lines, "")
	var delivered []Update
	for {
		u := h.next()
		if u.Err != nil {
			t.Fatalf("read error during the write: %v", u.Err)
		}
		if string(u.Data) == whole {
			break
		}
		delivered = append(delivered, u)
	}
	mustDo(t, <-done)
	for _, u := range delivered {
		d, partial := sw.quiet[string(u.Data)]
		if !partial {
			t.Fatalf("delivered %q, which the writer never wrote", u.Data)
		}
		if d < settle {
			t.Errorf("a partial file (%d bytes, unwritten for %v < Settle %v) was delivered (%s)", len(u.Data), d, settle, u.Reason)
			continue
		}
		t.Logf("a partial file was delivered after the writer paused for %v", d)
	}
}

func lines(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat(string(rune('a'+i%26)), 8) + "\n"
	}
	return out
}

// A file written in place a line every 100 ms is delivered only whole: the
// writes never stop for Settle, so no partial file is read.
func TestSlowInPlaceWriterNeverDeliversPartial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "start")
	const settle = time.Second
	h := start(t, path, Options{Debounce: 20 * time.Millisecond, Settle: settle})
	h.nextData("start")
	checkNoPartial(t, h, path, &slowWriter{lines: lines(15), pause: 100 * time.Millisecond}, settle)
}

// With notifications off, the poll that meets a file half-written does not
// deliver it: it delivers a state only when a read Settle later finds the
// same.
func TestPollConfirmsBeforeDelivering(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "start")
	const settle = 500 * time.Millisecond
	h := start(t, path, Options{PollOnly: true, PollInterval: 10 * time.Millisecond, Settle: settle})
	h.nextData("start")
	checkNoPartial(t, h, path, &slowWriter{lines: lines(12), pause: 50 * time.Millisecond}, settle)
}

// A file replaced in one step is delivered after Debounce, not held for
// Settle: a write in place waits for Settle (here an hour), and a rename
// over it that follows is delivered at once.
func TestRenameIsNotHeldForSettle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "start")
	h := start(t, path, Options{Settle: time.Hour})
	h.nextData("start")
	write(t, path, "written in place")
	replace(t, path, "renamed over")
	h.nextData("renamed over")
}
