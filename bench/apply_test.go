package bench_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/bench/internal/childserver"
	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/reconcile"
	"github.com/fleare-manager/fleare-manager/spec"
)

// server is what the apply benchmarks need of a Fleare server.
type server struct {
	host      string
	port      int
	auth      bool
	waitConns func(n int) error
}

// BenchmarkApply measures applying a configuration of 1,000 targets with 4
// connections each to a manager that runs nothing, until every pool is
// full, against the in-process server. The baseline dials the same 4,000
// connections one after another with fleare.Dial, with no manager and no
// pools: the floor, since connections to one server must be opened one at
// a time. Target: under 3s on 2 cores.
func BenchmarkApply(b *testing.B) {
	srv := fleartest.NewServer(b, fleartest.Options{Users: benchUsers})
	s := server{host: srv.Host(), port: srv.Port(), auth: true, waitConns: func(n int) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return srv.WaitConns(ctx, n)
	}}
	benchApply(b, s, 1000, 4)
}

// BenchmarkApplyScaling shows how apply grows with the number of targets,
// 10 to 10,000, with one connection per target, and with four up to 1,000
// targets. The server runs in a child process: 10,000 connections need
// 10,000 file descriptors at each end, and one process may hold 20,000 at
// most here.
func BenchmarkApplyScaling(b *testing.B) {
	child, err := childserver.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := child.Close(); err != nil {
			b.Error(err)
		}
	}()
	s := server{host: child.Host, port: child.Port, waitConns: child.WaitConns}
	for _, size := range []int{1, 4} {
		for _, n := range []int{10, 100, 1000, 10000} {
			if size > 1 && n > 1000 {
				continue
			}
			b.Run(fmt.Sprintf("conns=%d/targets=%d", size, n), func(b *testing.B) { benchApply(b, s, n, size) })
		}
	}
}

// BenchmarkReapplyScaling shows how applying a small change grows with the
// number of targets running: a manager runs n targets (one connection
// each, server in a child process) and each iteration changes one
// target's request timeout, which applies in place. The baseline is the
// diff alone (reconcile.Diff) of the same two configurations, measured in
// the same process while the n pools run, so that both pay for their
// background work alike. Goal: under 3x the diff at 10,000 targets.
//
// health=1s is the default health-check interval; health=off sets it to an
// hour, leaving what the apply itself costs.
func BenchmarkReapplyScaling(b *testing.B) {
	child, err := childserver.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := child.Close(); err != nil {
			b.Error(err)
		}
	}()
	for _, health := range []struct {
		name     string
		interval time.Duration
	}{{"1s", 0}, {"off", time.Hour}} {
		for _, n := range []int{10, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("health=%s/targets=%d", health.name, n), func(b *testing.B) {
				benchReapply(b, child, n, health.interval)
			})
		}
	}
}

// benchReapply runs BenchmarkReapplyScaling for n targets.
func benchReapply(b *testing.B, child *childserver.Server, n int, health time.Duration) {
	cfgs := [2]*spec.Config{targets(b, child.Host, child.Port, n, 1, false), nil}
	cfgs[1] = withRequestTimeout(cfgs[0], 0, 7*time.Second)
	// fleartest needs no spacing between closes: 10,000 spaced closes
	// would outlast closeManager's minute.
	m, err := manager.New(manager.Options{HealthCheckInterval: health, CloseSpacing: -1})
	if err != nil {
		b.Fatal(err)
	}
	applyAll(b, m, cfgs[0], n)
	runtime.GC() // the garbage of filling n pools, for neither run to pay
	b.Run("baseline=reconcile.Diff", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if p := reconcile.Diff(cfgs[(i+1)%2], cfgs[i%2]); len(p.Actions) != 1 {
				b.Fatalf("plan of %d actions, want 1", len(p.Actions))
			}
			i++
		}
	})
	runtime.GC()
	b.Run("manager.Apply", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		if m.Config() == cfgs[1] {
			i = 1
		}
		for b.Loop() {
			res, err := m.Apply(context.Background(), cfgs[(i+1)%2])
			if err != nil || len(res.Plan.Actions) != 1 {
				b.Fatalf("apply: %d actions, %v", len(res.Plan.Actions), err)
			}
			i++
		}
	})
	closeManager(b, m)
	settle(b, server{waitConns: child.WaitConns}, 0)
}

// withRequestTimeout returns a copy of cfg in which target i has request
// timeout d.
func withRequestTimeout(cfg *spec.Config, i int, d time.Duration) *spec.Config {
	out := &spec.Config{Version: cfg.Version, Targets: append([]spec.Target(nil), cfg.Targets...)}
	out.Targets[i].Timeouts.Request = d
	return out
}

// benchApply runs the apply of n targets of size connections, and its
// baseline, as sub-benchmarks.
func benchApply(b *testing.B, s server, n, size int) {
	cfg := targets(b, s.host, s.port, n, size, s.auth)
	conns := n * size
	b.Run("baseline=sequential-dials", func(b *testing.B) {
		o := fleare.Options{CloseSpacing: -1} // fleartest needs no spacing between closes
		if s.auth {
			o.Username, o.Password = benchUser, benchPass
		}
		b.ReportAllocs()
		opened := make([]*fleare.Conn, 0, conns)
		for b.Loop() {
			for range conns {
				c, err := fleare.Dial(context.Background(), s.host, s.port, o)
				if err != nil {
					b.Fatal(err)
				}
				opened = append(opened, c)
			}
			b.StopTimer()
			for _, c := range opened {
				c.Close()
			}
			opened = opened[:0]
			settle(b, s, 0)
			b.StartTimer()
		}
		b.ReportMetric(float64(conns), "conns")
	})
	b.Run("manager.Apply", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			m, err := manager.New(manager.Options{CloseSpacing: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			applyAll(b, m, cfg, conns)
			b.StopTimer()
			closeManager(b, m)
			settle(b, s, 0)
			b.StartTimer()
		}
		b.ReportMetric(float64(conns), "conns")
	})
}

// applyAll applies cfg to m and checks that all conns are open.
func applyAll(b *testing.B, m *manager.Manager, cfg *spec.Config, conns int) {
	apply(b, m, cfg)
	open := 0
	for _, t := range m.Status().Targets {
		open += t.Open
	}
	if open != conns {
		b.Fatalf("%d connections open after the apply, want %d", open, conns)
	}
}

// settle waits until the server holds n connections.
func settle(b *testing.B, s server, n int) {
	if err := s.waitConns(n); err != nil {
		b.Fatal(err)
	}
}
