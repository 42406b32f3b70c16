package manager_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// batchCall sends a batch of echoes and checks each reply is its own.
func batchCall(c *manager.Client, n int) func(context.Context) error {
	var seq atomic.Int64
	return func(ctx context.Context) error {
		id := seq.Add(1)
		reqs := make([]fleare.Request, n)
		for i := range reqs {
			reqs[i] = fleare.Request{Command: "PING", Args: []string{fmt.Sprintf("%d-%d", id, i)}}
		}
		for i, o := range c.ExecBatch(ctx, reqs) {
			if o.Err != nil {
				return o.Err
			}
			if want := "PONG " + reqs[i].Args[0]; string(o.Reply.Result) != want {
				return fmt.Errorf("request %d got %q, want %q", i, o.Reply.Result, want)
			}
		}
		return nil
	}
}

// Batches keep succeeding, each request with its own reply, while the
// target is replaced back and forth, resized, and switched between plain
// and pipelined pools under them.
func TestClientBatchAcrossReplaces(t *testing.T) {
	s1 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	s2 := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true})
	m := testkit.NewManager(t, manager.Options{})
	a := m.Client("a")
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s1, Size: 4}))

	load := testkit.StartLoad(testkit.Context(t), 32, 10*time.Second, batchCall(a, 12))
	load.WaitOK(t, 100)
	servers := []*fleartest.Server{s1, s2}
	for i := range 16 {
		pipeline := 0
		if i%2 == 0 {
			pipeline = 8
		}
		testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: servers[(i+1)%2], Size: 1 + i%4, Pipeline: pipeline}))
	}
	if calls := load.Stop(); calls.Failed != 0 || calls.OK == 0 {
		t.Fatalf("%d of %d batches failed; first: %v", calls.Failed, calls.OK+calls.Failed, calls.First)
	}
	for _, s := range servers {
		if s.Overlaps().Handshakes != 0 || s.Stranded() != 0 || s.Wedged() {
			t.Fatalf("overlapping handshakes: %+v", s.Overlaps())
		}
	}
}

// The observer sees each request of a batch; a batch to an unknown target
// fails every request with ErrUnknownTarget.
func TestClientBatchObserverAndUnknownTarget(t *testing.T) {
	s := fleartest.NewServer(t, fleartest.Options{Users: testkit.Users()})
	var mu sync.Mutex
	var seen []error
	m := testkit.NewManager(t, manager.Options{RequestObserver: func(_ context.Context, target string, _ time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, err)
	}})
	testkit.Apply(t, m, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: s, Size: 1}))
	ctx := testkit.Context(t)
	outs := m.Client("a").ExecBatch(ctx, []fleare.Request{{Command: "PING"}, {Command: "STR.GET", Args: []string{"k"}}, {Command: "PING"}})
	if outs[0].Err != nil || outs[2].Err != nil || !errors.Is(outs[1].Err, fleare.ErrUnsafeCommand) {
		t.Fatalf("outcomes: %+v", outs)
	}
	mu.Lock()
	if len(seen) != 3 || seen[0] != nil || !errors.Is(seen[1], fleare.ErrUnsafeCommand) || seen[2] != nil {
		t.Fatalf("observed: %v", seen)
	}
	mu.Unlock()
	for i, o := range m.Client("nope").ExecBatch(ctx, make([]fleare.Request, 2)) {
		if !errors.Is(o.Err, manager.ErrUnknownTarget) {
			t.Fatalf("request %d to an unknown target: %v", i, o.Err)
		}
	}
}
