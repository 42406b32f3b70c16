package bench_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fleare-manager/fleare-manager/bench/internal/childserver"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

func TestMain(m *testing.M) {
	childserver.ServeIfChild()
	serveProxyIfChild()
	goleak.VerifyTestMain(m)
}

const (
	benchUser = "bench"
	benchPass = "bench-Password-1"
)

var benchUsers = map[string]string{benchUser: benchPass}

// targets renders and parses a configuration of n targets, each with a
// pool of size connections to host:port, named t00000, t00001...
func targets(tb testing.TB, host string, port, n, size int, auth bool) *spec.Config {
	tb.Helper()
	var b strings.Builder
	b.WriteString("version: 1\ndefaults:\n")
	if auth {
		fmt.Fprintf(&b, "  username: %s\n  password: %q\n", benchUser, benchPass)
	}
	fmt.Fprintf(&b, "  port: %d\n  pool: {size: %d}\n  timeouts: {connect: 30s, request: 30s, drain: 5s}\n", port, size)
	b.WriteString("targets:\n")
	for i := range n {
		fmt.Fprintf(&b, "  t%05d: {host: %s}\n", i, host)
	}
	cfg, err := spec.Parse("bench.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// newManager returns a manager that is closed when the benchmark ends. Its
// pools close connections without spacing (unless o says otherwise):
// fleartest does not need it, and thousands of spaced closes to one server
// would take minutes.
func newManager(tb testing.TB, o manager.Options) *manager.Manager {
	tb.Helper()
	if o.CloseSpacing == 0 {
		o.CloseSpacing = -1
	}
	m, err := manager.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { closeManager(tb, m) })
	return m
}

func closeManager(tb testing.TB, m *manager.Manager) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		tb.Error(err)
	}
}

// apply applies cfg and checks every action succeeded.
func apply(tb testing.TB, m *manager.Manager, cfg *spec.Config) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := m.Apply(ctx, cfg); err != nil {
		tb.Fatal(err)
	}
}

// TestHarness checks the benchmarks' plumbing quickly, so that a broken
// helper shows in go test ./... rather than only under -bench.
func TestHarness(t *testing.T) {
	srv, err := childserver.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	}()
	m := newManager(t, manager.Options{})
	apply(t, m, targets(t, srv.Host, srv.Port, 3, 2, false))
	if err := srv.WaitConns(6); err != nil {
		t.Fatal(err)
	}
	if err := m.Client("t00002").Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	closeManager(t, m)
	if err := srv.WaitConns(0); err != nil {
		t.Fatal(err)
	}
}
