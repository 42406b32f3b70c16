//go:build unix

package manager_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

// renameOver puts what make creates at a temporary name in place of path,
// in one step, as a swap by someone with write access to the directory.
func renameOver(t *testing.T, path string, make func(tmp string) error) {
	t.Helper()
	tmp := path + ".swap"
	_ = os.Remove(tmp)
	if err := make(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// heapInUse returns the bytes of heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// The watched file swapped for a named pipe, or for a link to /dev/zero,
// is rejected at once, by the watcher, at the end of the settling time and
// on SIGHUP alike; nothing blocks, memory stays bounded, a later edit is
// applied and Close returns.
func TestReloadRefusesSpecialFiles(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	for name, swap := range map[string]func(string) error{
		"named pipe":        func(tmp string) error { return syscall.Mkfifo(tmp, 0o600) },
		"link to /dev/zero": func(tmp string) error { return os.Symlink("/dev/zero", tmp) },
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fleare.yaml")
			testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1}))
			m := testkit.NewManager(t, manager.Options{Debounce: 10 * time.Millisecond, ReloadOnSIGHUP: true})
			ev := testkit.Record(t, m)
			if err := m.WatchFile(testkit.Context(t), path); err != nil {
				t.Fatal(err)
			}
			_, i := ev.Wait(t, 0, "initial load", testkit.Is(manager.EventConfigApplied, ""))
			before := heapInUse()

			renameOver(t, path, swap)
			e, i := ev.Wait(t, i, "rejected", testkit.Is(manager.EventConfigRejected, ""))
			if !strings.Contains(strings.Join(e.Errors, "\n"), "not a regular file") {
				t.Errorf("rejection: %v", e)
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			_, i = ev.Wait(t, i, "rejected after SIGHUP", testkit.Is(manager.EventConfigRejected, ""))
			if after := heapInUse(); after > before+64<<20 {
				t.Errorf("heap in use grew from %d to %d bytes", before, after)
			}

			renameOver(t, path, func(tmp string) error {
				return os.WriteFile(tmp, []byte(testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2})), 0o600)
			})
			ev.Wait(t, i, "a later edit applied", testkit.Is(manager.EventTargetResized, "a"))
		})
	}
}

// A file over the size limit is rejected wherever it is read: by the
// watcher, and at the end of the settling time (which once read it whole
// and applied it).
func TestReloadRefusesOversizeFile(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1}))
	m := testkit.NewManager(t, manager.Options{Debounce: 10 * time.Millisecond})
	ev := testkit.Record(t, m)
	if err := m.WatchFile(testkit.Context(t), path); err != nil {
		t.Fatal(err)
	}
	_, i := ev.Wait(t, 0, "initial load", testkit.Is(manager.EventConfigApplied, ""))

	// Valid YAML whatever its size: only the size is at fault.
	big := testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 2}) +
		strings.Repeat("#"+strings.Repeat("x", 1023)+"\n", spec.MaxConfigSize/1024+1)
	renameOver(t, path, func(tmp string) error { return os.WriteFile(tmp, []byte(big), 0o600) })
	e, _ := ev.Wait(t, i, "rejected or applied", func(e manager.Event) bool {
		return e.Type == manager.EventConfigRejected || e.Type == manager.EventConfigApplied
	})
	if e.Type != manager.EventConfigRejected || !strings.Contains(strings.Join(e.Errors, "\n"), "larger than") {
		t.Fatalf("a file over %d bytes: %v", spec.MaxConfigSize, e)
	}
	if st := m.Status(); st.Generation != 1 || st.Targets[0].Desired != 1 {
		t.Fatalf("status after an oversize file: %+v", st)
	}
}

// A file written in place a line every 100 ms, each line leaving a file
// that parses (every prefix is a valid configuration with fewer targets),
// is applied only whole: never half-written, unless the writer paused for
// the whole settling time.
func TestSlowInPlaceWriterNeverAppliedHalfWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	port := closedPort(t)
	const head = "version: 1\ntargets:\n"
	const debounce = 50 * time.Millisecond
	settle := max(4*debounce, 250*time.Millisecond) // as the manager's
	testkit.WriteFile(t, path, head+"  t00: {host: 127.0.0.1, port: "+fmt.Sprint(port)+", pool: {size: 1}, retry: {max_retries: 0}}\n")
	m := testkit.NewManager(t, manager.Options{Debounce: debounce})
	ev := testkit.Record(t, m)
	if err := m.WatchFile(testkit.Context(t), path); err != nil {
		t.Fatal(err)
	}
	_, i := ev.Wait(t, 0, "initial load", testkit.Is(manager.EventConfigApplied, ""))

	const n = 20
	lines := []string{head}
	for k := range n {
		lines = append(lines, fmt.Sprintf("  t%02d: {host: 127.0.0.1, port: %d, pool: {size: 1}, retry: {max_retries: 0}}\n", k, port))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var maxQuiet time.Duration
	last := time.Now()
	for _, line := range lines {
		maxQuiet = max(maxQuiet, time.Since(last))
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		last = time.Now()
		time.Sleep(100 * time.Millisecond)
	}
	testkit.WaitStatus(t, m, "the whole file applied", func(st manager.Status) bool { return len(st.Targets) == n })
	for _, e := range ev.All()[i:] {
		if e.Type != manager.EventConfigApplied {
			continue
		}
		if want := fmt.Sprintf("%d to create, 0 to replace", n-1); !strings.HasPrefix(e.New, want) {
			if maxQuiet >= settle {
				t.Logf("the writer paused for %v, past the settling time %v: a part was applied (%s)", maxQuiet, settle, e.New)
				continue
			}
			t.Fatalf("applied %q while the file was being written (the writer never paused for %v), want %q",
				e.New, settle, want)
		}
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
