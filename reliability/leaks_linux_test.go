package reliability_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// After Close, the manager has closed every file descriptor it opened:
// connections, the file watch, the watched file.
func TestNoFileDescriptorLeak(t *testing.T) {
	before := openFDs(t)
	srv, err := fleartest.Start(fleartest.Options{Users: testkit.Users()})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, path, timings.ConfigYAML(testkit.Target{Name: "a", Srv: srv, Size: 8}))
	m, err := manager.New(manager.Options{Debounce: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Context(t)
	if err := m.WatchFile(ctx, path); err != nil {
		t.Fatal(err)
	}
	load := testkit.StartLoad(ctx, 16, callDeadline, m.Client("a").Ping)
	load.WaitOK(t, 200)
	for size := range 4 {
		testkit.WriteFile(t, path, timings.ConfigYAML(testkit.Target{Name: "a", Srv: srv, Size: 1 + size}))
		testkit.WaitConns(t, srv, 1+size)
	}
	srv.CloseClientConnections() // broken connections are replaced, the old ones closed
	load.WaitOK(t, 200)
	if during := openFDs(t); during <= before {
		t.Fatalf("%d descriptors open while running, %d before: the count is not measuring anything", during, before)
	}
	load.Stop()

	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if after := openFDs(t); after != before {
		t.Fatalf("%d file descriptors open after Close, %d before", after, before)
	}
}
