package manager_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/poll"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// While a file is watched it is the source of truth: an Apply is refused
// and recorded nowhere; a forced one applies, shows as such in the status,
// and the file's next change wins again.
func TestWatchedFileWins(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1}))
	m := testkit.NewManager(t, manager.Options{Debounce: 10 * time.Millisecond})
	if err := m.WatchFile(testkit.Context(t), path); err != nil {
		t.Fatal(err)
	}
	before := m.Status()

	api := testkit.Parse(t, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2}))
	_, err := m.Apply(testkit.Context(t), api)
	if !errors.Is(err, manager.ErrFileWins) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Apply while a file is watched: %v", err)
	}
	if st := m.Status(); st.Reloads != before.Reloads || st.Generation != before.Generation || st.Targets[0].Desired != 1 {
		t.Fatalf("a refused apply changed or recorded something: %+v", st)
	}

	res, err := m.ApplyWith(testkit.Context(t), api, manager.ApplyOptions{Force: true})
	if err != nil || res.Generation != 2 {
		t.Fatalf("forced apply: %v %+v", err, res)
	}
	st := m.Status()
	if st.Source != manager.SourceAPI || st.Watching != path || st.Hash != "" || st.Targets[0].Desired != 2 {
		t.Fatalf("status after a forced apply: %+v", st)
	}

	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 3}))
	testkit.WaitStatus(t, m, "the file to win", func(st manager.Status) bool {
		return st.Source == path && st.Generation == 3 && st.Targets[0].Desired == 3
	})
}

// Preconditions on the generation and the hash refuse an apply made
// against a configuration that has changed since.
func TestApplyPreconditions(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	m := testkit.NewManager(t, manager.Options{})
	ctx := testkit.Context(t)
	gen := func(n uint64) *uint64 { return &n }
	y1 := testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1})
	y2 := testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2})

	if _, err := m.ApplyWith(ctx, testkit.Parse(t, y1), manager.ApplyOptions{IfHash: manager.AnyHash}); !errors.Is(err, manager.ErrStale) {
		t.Fatalf("If-Match * before any configuration: %v", err)
	}
	sum := sha256.Sum256([]byte(y1))
	if _, err := m.ApplyWith(ctx, testkit.Parse(t, y1), manager.ApplyOptions{IfGeneration: gen(0), Hash: sum}); err != nil {
		t.Fatalf("expecting generation 0 at the start: %v", err)
	}
	st := m.Status()
	if st.Hash != hex.EncodeToString(sum[:]) || st.Generation != 1 {
		t.Fatalf("status after an apply with a hash: %+v", st)
	}

	for _, o := range []manager.ApplyOptions{{IfGeneration: gen(0)}, {IfHash: "00ff"}, {IfGeneration: gen(1), IfHash: "00ff"}} {
		_, err := m.ApplyWith(ctx, testkit.Parse(t, y2), o)
		if !errors.Is(err, manager.ErrStale) {
			t.Errorf("stale precondition %+v: %v", o, err)
		}
	}
	if st := m.Status(); st.Generation != 1 || st.Reloads.Applied != 1 || st.Targets[0].Desired != 1 {
		t.Fatalf("a stale apply changed something: %+v", st)
	}
	for _, o := range []manager.ApplyOptions{{IfGeneration: gen(1), IfHash: st.Hash}, {IfHash: manager.AnyHash}} {
		if _, err := m.ApplyWith(ctx, testkit.Parse(t, y2), o); err != nil {
			t.Errorf("fresh precondition %+v: %v", o, err)
		}
	}
	if st := m.Status(); st.Generation != 2 || st.Hash != "" {
		t.Fatalf("after fresh applies: %+v", st)
	}
}

// lineLog is a slog handler that keeps each record's message and
// attributes as one line.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) handler() slog.Handler {
	return slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, strings.TrimSpace(string(p)))
		return len(p), nil
	}), nil)
}

func (l *lineLog) matching(sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return out
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// An unchanged configuration is logged in one line, whatever brought it,
// and emits no config.applied.
func TestUnchangedLogsOneLine(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	log := &lineLog{}
	m := testkit.NewManager(t, manager.Options{Logger: slog.New(log.handler())})
	ev := testkit.Record(t, m)
	y := testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1})
	testkit.Apply(t, m, y)
	_, i := ev.Wait(t, 0, "applied", testkit.Is(manager.EventConfigApplied, ""))
	testkit.Apply(t, m, y)
	m.Reject("marker", errors.New("marker"))
	ev.Wait(t, i, "marker", testkit.Is(manager.EventConfigRejected, ""))
	if !poll.For(poll.Timeout, func() bool { return len(log.matching("source=marker")) == 1 }) {
		t.Fatal("the marker was not logged")
	}
	lines := log.matching("config.unchanged")
	if len(lines) != 1 || !strings.Contains(lines[0], "via=api") || !strings.Contains(lines[0], "nothing to do") {
		t.Fatalf("unchanged apply logged %q, want one line", lines)
	}
	for _, e := range ev.All()[i:] {
		if e.Type == manager.EventConfigApplied || e.Type == "config.unchanged" {
			t.Fatalf("an unchanged apply emitted %v", e)
		}
	}
}

// A rejected first configuration says that nothing is applied, not that
// a configuration in force is kept.
func TestRejectedFirstConfigSaysNothingApplied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, path, "version: 1\ntargets:\n  a: {port: 0}\n")
	var buf bytes.Buffer
	m, err := manager.New(manager.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ev := testkit.Record(t, m)
	if err := m.WatchFile(testkit.Context(t), path); err == nil {
		t.Fatal("an invalid file was watched")
	}
	e, _ := ev.Wait(t, 0, "rejected", testkit.Is(manager.EventConfigRejected, ""))
	if err := m.Close(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.Error, "kept") || !strings.Contains(e.Error, "nothing is applied") {
		t.Errorf("rejected event of the first file: %q", e.Error)
	}
	if strings.Contains(buf.String(), "kept") {
		t.Errorf("the log says a configuration is kept:\n%s", buf.String())
	}
}
