// Command heapconn measures the memory a process holds per idle connection
// to a Fleare server, with the server in a child process so that its memory
// is not counted.
//
//	go run ./bench/heapconn [-targets 2500] [-size 4] [-rounds 3]
//
// It opens targets×size idle connections (10,000 by default) three ways,
// each from a clean heap, and reports for each the Go heap in use
// (HeapInuse) and the goroutine stacks (StackInuse) it added, divided by
// the number of connections, and the CPU time the process used while the
// connections sat idle for -idle (health checks, timers), as a share of
// one core:
//
//   - baseline: a net.Conn and a 4 KiB bufio.Reader per connection, what
//     any client that reads replies holds at least;
//   - fleare: one fleare.Client pool per target, without the manager;
//   - manager: a manager applying a configuration of the targets.
//
// Each connection uses a file descriptor in this process and one in the
// child (loopback only), so both need a limit above targets×size plus a few
// dozen; Go raises the soft limit to the hard one at start. Target: under
// 16 KiB of heap per connection through the manager.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleare-manager/fleare-manager/bench/internal/childserver"
	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

// targetKiB is the most heap an idle managed connection may hold.
const targetKiB = 16

func main() {
	childserver.ServeIfChild()
	targets := flag.Int("targets", 2500, "number of targets")
	size := flag.Int("size", 4, "connections per target")
	rounds := flag.Int("rounds", 3, "measurements of each kind; the median is reported")
	idle := flag.Duration("idle", 3*time.Second, "how long to measure the CPU used by idle connections")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the idle windows of the fleare kind to this file")
	flag.DurationVar(&healthInterval, "health", 0, "the pools' health-check interval (0: the default, 1s); an hour shows the idle cost without health checks")
	flag.Parse()
	if err := run(os.Stdout, *targets, *size, *rounds, *idle); err != nil {
		log.Fatal(err)
	}
}

// opener opens n idle connections and returns what closes them.
type opener func(ctx context.Context, srv *childserver.Server, targets, size int) (io.Closer, error)

func run(out io.Writer, targets, size, rounds int, idle time.Duration) error {
	srv, err := childserver.Start()
	if err != nil {
		return err
	}
	defer srv.Close()
	conns := targets * size
	fmt.Fprintf(out, "heap per idle connection: %d connections (%d targets x %d), server in a child process, %s %s/%s, GOMAXPROCS %d, health checks every %v (0: default)\n",
		conns, targets, size, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), healthInterval)
	fmt.Fprintf(out, "%-9s %14s %14s %14s %10s %14s\n", "kind", "heap B/conn", "stack B/conn", "total B/conn", "heap ratio", "idle CPU")
	var base float64
	for _, k := range []struct {
		name string
		open opener
	}{{"baseline", openRaw}, {"fleare", openPools}, {"manager", openManaged}} {
		r, err := measure(srv, k.open, targets, size, rounds, idle)
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		if k.name == "baseline" {
			base = r.heap
			profiling = cpuProfile != ""
		}
		fmt.Fprintf(out, "%-9s %14.0f %14.0f %14.0f %9.2fx %13.1f%%\n", k.name, r.heap, r.stack, r.heap+r.stack, r.heap/base, 100*r.cpu)
		if k.name == "manager" {
			verdict := "met"
			if r.heap >= targetKiB*1024 {
				verdict = "NOT met"
			}
			fmt.Fprintf(out, "target: manager heap < %d KiB per connection: %s (%.1f KiB)\n", targetKiB, verdict, r.heap/1024)
		}
	}
	return nil
}

// result is what one kind of connection costs: heap and stack bytes per
// connection, and the share of a core used while idle.
type result struct{ heap, stack, cpu float64 }

// measure opens the connections rounds times and returns the medians.
func measure(srv *childserver.Server, open opener, targets, size, rounds int, idle time.Duration) (result, error) {
	conns := targets * size
	var heaps, stacks, cpus []float64
	for range rounds {
		before := settled()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		c, err := open(ctx, srv, targets, size)
		cancel()
		if err != nil {
			return result{}, err
		}
		if err := srv.WaitConns(conns); err != nil {
			c.Close()
			return result{}, err
		}
		after := settled()
		heaps = append(heaps, float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(conns))
		stacks = append(stacks, float64(int64(after.StackInuse)-int64(before.StackInuse))/float64(conns))
		cpus = append(cpus, idleCPU(idle))
		if err := c.Close(); err != nil {
			return result{}, err
		}
		if err := srv.WaitConns(0); err != nil {
			return result{}, err
		}
	}
	return result{median(heaps), median(stacks), median(cpus)}, nil
}

// cpuProfile, when set, names the file for a CPU profile of the first
// idle window of the fleare kind; healthInterval is the pools'
// HealthCheckInterval.
var (
	cpuProfile     string
	profiling      bool
	healthInterval time.Duration
)

// idleCPU returns the CPU time (user and system) the process uses during
// d, as a share of one core.
func idleCPU(d time.Duration) float64 {
	if profiling {
		profiling = false
		if f, err := os.Create(cpuProfile); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	start, t0 := cpuTime(), time.Now()
	time.Sleep(d) // the measurement window: nothing to wait for
	return float64(cpuTime()-start) / float64(time.Since(t0))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settled collects garbage until the heap stops shrinking and returns the
// memory statistics.
func settled() runtime.MemStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	for range 5 {
		prev := m.HeapInuse
		runtime.GC()
		runtime.ReadMemStats(&m)
		if m.HeapInuse >= prev {
			break
		}
	}
	return m
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// rawConns is the baseline: TCP connections with a read buffer each.
type rawConns struct {
	ncs []net.Conn
	brs []*bufio.Reader
}

func openRaw(ctx context.Context, srv *childserver.Server, targets, size int) (io.Closer, error) {
	addr := net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port))
	r := &rawConns{}
	var d net.Dialer
	for range targets * size {
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			r.Close()
			return nil, err
		}
		// Authenticate with an empty auth frame, so that the server counts
		// the connection as the others: length 6, field 1 = "auth".
		if _, err := nc.Write([]byte{0, 0, 0, 6, 0x0a, 4, 'a', 'u', 't', 'h'}); err != nil {
			nc.Close()
			r.Close()
			return nil, err
		}
		br := bufio.NewReaderSize(nc, 4<<10)
		if _, err := br.Peek(4); err != nil { // the reply's header
			nc.Close()
			r.Close()
			return nil, err
		}
		r.ncs = append(r.ncs, nc)
		r.brs = append(r.brs, br)
	}
	return r, nil
}

func (r *rawConns) Close() error {
	for _, nc := range r.ncs {
		nc.Close()
	}
	return nil
}

// pools is one fleare.Client per target.
type pools []*fleare.Client

func openPools(ctx context.Context, srv *childserver.Server, targets, size int) (io.Closer, error) {
	var ps pools
	for range targets {
		c := fleare.NewClient(srv.Host, srv.Port, fleare.Options{PoolSize: size, CloseSpacing: -1, HealthCheckInterval: healthInterval})
		ps = append(ps, c)
		if err := c.Connect(ctx); err != nil {
			ps.Close()
			return nil, err
		}
	}
	return ps, nil
}

func (ps pools) Close() error {
	for _, c := range ps {
		if err := c.Close(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

// managed is a manager running the targets.
type managed struct{ m *manager.Manager }

func openManaged(ctx context.Context, srv *childserver.Server, targets, size int) (io.Closer, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ndefaults:\n  port: %d\n  pool: {size: %d}\ntargets:\n", srv.Port, size)
	for i := range targets {
		fmt.Fprintf(&b, "  t%05d: {host: %s}\n", i, srv.Host)
	}
	cfg, err := spec.Parse("heapconn.yaml", []byte(b.String()))
	if err != nil {
		return nil, err
	}
	b.Reset()
	runtime.GC() // the YAML and parse garbage is not the connections'
	// fleartest needs no spacing between closes.
	m, err := manager.New(manager.Options{CloseSpacing: -1, HealthCheckInterval: healthInterval})
	if err != nil {
		return nil, err
	}
	if _, err := m.Apply(ctx, cfg); err != nil {
		_ = m.Close(context.Background())
		return nil, err
	}
	return managed{m}, nil
}

func (m managed) Close() error { return m.m.Close(context.Background()) }
