package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// usage is the process's goroutines and live heap after a collection.
type usage struct {
	goroutines int
	heap       uint64
}

func measure() usage {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{goroutines: runtime.NumGoroutine(), heap: ms.HeapAlloc}
}

// soakTimings are the soak's. Its 64 callers queue for as few as one
// connection, so a call waits behind up to 63 others: with the fault tests'
// 500ms request timeout, "no call fails" asserted that 64 requests take
// under 500ms, which a loaded machine does not promise, and calls failed
// while queued; and a drain shorter than the request timeout closes a
// request that is slow, not hung, under its caller, as it should. Here only
// a hang fails a call; a call that a reload breaks (refused, or sent to a
// pool that is closing) fails at once, whatever the timeouts.
var soakTimings = testkit.Timings{Connect: "2s", Request: "10s", Drain: "10s", RetryInterval: "20ms", MaxRetries: 2}

// soakCallDeadline bounds each call from outside, beyond the request
// timeout: a call that reached it would have hung.
const soakCallDeadline = 15 * time.Second

// A thousand reloads under the load of 64 callers, alternating a resize and
// an endpoint swap between two servers: no call fails, and goroutines and
// memory are the same after the last reload as after the first hundred.
func TestSoakThousandReloads(t *testing.T) {
	const reloads = 1000
	servers := []*fleartest.Server{
		fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true}),
		fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true}),
	}
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	config := func(i int) (string, int, int) {
		cur, size := (i/2)%2, 1+i%4 // odd steps resize, even steps swap
		return soakTimings.ConfigYAML(testkit.Target{Name: "a", Srv: servers[cur], Size: size}), cur, size
	}
	first, _, _ := config(0)
	testkit.WriteFile(t, path, first)
	m := testkit.NewManager(t, manager.Options{Debounce: 5 * time.Millisecond})
	events, cancel := m.Subscribe()
	defer cancel()
	ctx := testkit.Context(t)
	if err := m.WatchFile(ctx, path); err != nil {
		t.Fatal(err)
	}
	load := testkit.StartLoad(ctx, callers, soakCallDeadline, m.Client("a").Ping)
	defer load.Stop()

	var warm usage
	var cur, size int
	var forced []string // drains that closed connections under their callers
	for i := 1; i <= reloads; i++ {
		var yaml string
		yaml, cur, size = config(i)
		testkit.WriteFile(t, path, yaml)
		forced = append(forced, waitApplied(t, m, events, i)...)
		if i == 100 {
			settle(t, servers, cur, size)
			warm = measure()
		}
	}
	settle(t, servers, cur, size)
	end := measure()
	calls := load.Stop()

	if calls.Failed != 0 {
		kinds := map[string]int{}
		for _, err := range calls.Errors {
			kinds[fmt.Sprintf("%T %v", errors.Unwrap(err), err)[:60]]++
		}
		t.Fatalf("%d of %d calls failed; first: %v; kinds %v; pool %+v; forced drains: %v",
			calls.Failed, calls.OK+calls.Failed, calls.First, kinds, m.Status().Targets, forced)
	}
	t.Logf("%d reloads, %d calls; after reload 100: %d goroutines, %d KiB heap; after reload %d: %d goroutines, %d KiB heap",
		reloads, calls.OK, warm.goroutines, warm.heap>>10, reloads, end.goroutines, end.heap>>10)
	if end.goroutines > warm.goroutines+2 { // a health check or a timer may be running
		t.Errorf("goroutines grew: %d → %d", warm.goroutines, end.goroutines)
	}
	if end.heap > warm.heap+512<<10 {
		t.Errorf("heap grew by more than 512 KiB over %d reloads: %d → %d KiB", reloads-100, warm.heap>>10, end.heap>>10)
	}
	if st := m.Status(); st.Generation != reloads+1 || st.EventsDropped != 0 {
		t.Errorf("status: generation %d (want %d), %d events dropped", st.Generation, reloads+1, st.EventsDropped)
	}
}

// waitApplied reads events until the i-th reload is applied, and returns
// the drains among them that closed connections under their callers.
func waitApplied(t *testing.T, m *manager.Manager, events <-chan manager.Event, i int) (forced []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		select {
		case e := <-events:
			if e.Type == manager.EventTargetDrained && e.Error != "" {
				forced = append(forced, e.String())
			}
			if e.Type == manager.EventConfigApplied && e.Generation == uint64(i+1) {
				return forced
			}
			if e.Type == manager.EventConfigRejected {
				t.Fatalf("reload %d rejected: %v", i, e)
			}
		case <-ctx.Done():
			t.Fatalf("reload %d: no config.applied within 10s; status %+v", i, m.Status())
		}
	}
}

// settle waits until the servers hold what the configuration asks for.
func settle(t *testing.T, servers []*fleartest.Server, cur, size int) {
	t.Helper()
	testkit.WaitConns(t, servers[cur], size)
	testkit.WaitConns(t, servers[1-cur], 0)
}
