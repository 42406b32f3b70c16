package bench_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/bench/internal/childserver"
	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// The proxy benchmark's layout: three processes on the same machine.
//
//   - the server: fleartest, without auth, in a child process
//     (childserver);
//   - the proxy: another child process (this binary again, with
//     proxyChildEnv set), whose backend is a fleare.Client of
//     proxyPoolSize connections pipelining proxyPipeline requests each;
//   - the clients: the benchmark process, one goroutine per client, each
//     with its own fleare.Conn, to the server ("direct", the baseline) or to
//     the proxy.
//
// So each side's CPU is measured apart: the clients' and the proxy's with
// getrusage (the proxy child reports its own), the server's from /proc.
const (
	proxyChildEnv   = "FLEARE_BENCH_CHILD_PROXY"          // the server's host:port
	proxyProfileEnv = "FLEARE_BENCH_PROXY_CPUPROFILE"     // a file for the proxy child's CPU profile
	proxyProcsEnv   = "FLEARE_BENCH_PROXY_GOMAXPROCS"     // GOMAXPROCS of the proxy child alone
	proxyPoolSize   = 8                                   // backend connections
	proxyPipeline   = 32                                  // requests in flight per backend connection
	proxyInFlight   = proxyPoolSize*proxyPipeline + 1024  // what the pool takes without refusing
	proxyValue      = "value-of-thirty-two-bytes-abcdefg" // SET's value
)

// serveProxyIfChild runs the proxy and exits when the process was started
// by startProxyChild; it returns at once otherwise. The child prints its
// listen address, answers "stats" lines with its allocation count and CPU
// time, and stops when its standard input closes.
func serveProxyIfChild() {
	addr := os.Getenv(proxyChildEnv)
	if addr == "" {
		return
	}
	if err := serveProxy(addr, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "proxy child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serveProxy(srvAddr string, in io.Reader, out io.Writer) error {
	host, portText, err := net.SplitHostPort(srvAddr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return err
	}
	if path := os.Getenv(proxyProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	pool := fleare.NewClient(host, port, fleare.Options{PoolSize: proxyPoolSize, Pipeline: proxyPipeline, CloseSpacing: -1})
	defer pool.Close(ctx)
	if err := pool.Connect(ctx); err != nil {
		return err
	}
	p, err := proxy.New(pool, proxy.Options{
		Users:       []proxy.User{{Username: benchUser, Password: benchPass}},
		MaxClients:  4096,
		MaxInFlight: proxyInFlight,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	l, err := p.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(out, l.Addr()); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() != "stats" {
			return fmt.Errorf("bad command %q", sc.Text())
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		cpu := selfCPU()
		if _, err := fmt.Fprintln(out, ms.Mallocs, int64(cpu)); err != nil {
			return err
		}
	}
	return sc.Err()
}

// proxyChild is the proxy running in a child process.
type proxyChild struct {
	host  string
	port  int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startProxyChild starts a proxy in front of srv in a child process.
func startProxyChild(srv *childserver.Server) (*proxyChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), proxyChildEnv+"="+net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)))
	if _, ok := os.LookupEnv("GORACE"); !ok {
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	}
	if procs := os.Getenv(proxyProcsEnv); procs != "" {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+procs)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pc := &proxyChild{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := pc.out.ReadString('\n')
	if err == nil {
		var port string
		pc.host, port, err = net.SplitHostPort(strings.TrimSpace(line))
		if err == nil {
			pc.port, err = strconv.Atoi(port)
		}
	}
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("proxy child: reading its address: %w", err)
	}
	return pc, nil
}

// stats returns the child's allocation count and CPU time so far.
func (pc *proxyChild) stats() (mallocs uint64, cpu time.Duration, err error) {
	if _, err := fmt.Fprintln(pc.stdin, "stats"); err != nil {
		return 0, 0, err
	}
	line, err := pc.out.ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	var ns int64
	if _, err := fmt.Sscan(line, &mallocs, &ns); err != nil {
		return 0, 0, fmt.Errorf("proxy child: stats %q: %w", line, err)
	}
	return mallocs, time.Duration(ns), nil
}

// Close stops the child and waits for it to exit.
func (pc *proxyChild) Close() error {
	_ = pc.stdin.Close()
	return pc.cmd.Wait()
}

// dialAll opens n connections to host:port, one after another, closed when
// the benchmark ends.
func dialAll(tb testing.TB, host string, port, n int, o fleare.Options) []*fleare.Conn {
	tb.Helper()
	o.CloseSpacing = -1
	conns := make([]*fleare.Conn, n)
	for i := range conns {
		c, err := fleare.Dial(context.Background(), host, port, o)
		if err != nil {
			tb.Fatal(err)
		}
		conns[i] = c
	}
	tb.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return conns
}

// proxyOp is what a client does in turn: one PING; SET and GET
// alternately on a key of its own (n counts the client's turns); or 16
// PINGs pipelined (written at once, then their replies read). reqs is the
// number of requests in a turn.
type proxyOp struct {
	name string
	reqs int
	do   func(ctx context.Context, c *fleare.Conn, client int, n int64) error
}

// pipelinedPings is the turn of a pipelining client.
var pipelinedPings = slices.Repeat([]fleare.Request{{Command: "PING"}}, 16)

var proxyOps = []proxyOp{
	{"ping", 1, func(ctx context.Context, c *fleare.Conn, _ int, _ int64) error { return c.Ping(ctx) }},
	{"setget", 1, func(ctx context.Context, c *fleare.Conn, client int, n int64) error {
		key := benchKeys[client]
		if n%2 == 0 {
			_, err := c.Do(ctx, "SET", key, proxyValue)
			return err
		}
		v, err := c.Do(ctx, "GET", key)
		if err == nil && string(v) != proxyValue {
			err = fmt.Errorf("GET %s = %q, want %q", key, v, proxyValue)
		}
		return err
	}},
	{"ping16", len(pipelinedPings), func(ctx context.Context, c *fleare.Conn, _ int, _ int64) error {
		res, err := c.Pipeline(ctx, pipelinedPings)
		for _, r := range res {
			if err == nil && r.Err != nil {
				err = r.Err
			}
		}
		return err
	}},
}

var benchKeys = func() []string {
	keys := make([]string, 256)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench-key-%03d", i)
	}
	return keys
}()

// BenchmarkProxy compares the requests of 1, 64 and 256 clients, each on
// its own connection, sent straight to the server (baseline=direct) and
// through the proxy (see the layout above), for PING, SET/GET and
// pipelined PINGs. Each sub-benchmark reports requests/s, the median
// round trip of a turn (one request, or 16 pipelined), the CPU time per
// request of each process (clients, server, proxy) and the proxy's
// allocations per request; ns/op, B/op and allocs/op are per turn, and
// the last two the clients'.
// Goals (issue 11): through the proxy, at least the direct requests/s at
// 64 and 256 clients; at 1 client, under 50 µs added to the median.
func BenchmarkProxy(b *testing.B) {
	srv, err := childserver.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	pc, err := startProxyChild(srv)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	const most = 256
	direct := dialAll(b, srv.Host, srv.Port, most, fleare.Options{})
	proxied := dialAll(b, pc.host, pc.port, most, fleare.Options{Username: benchUser, Password: benchPass})
	for _, op := range proxyOps {
		for _, clients := range []int{1, 64, most} {
			b.Run(fmt.Sprintf("op=%s/clients=%d/baseline=direct", op.name, clients), func(b *testing.B) {
				runClients(b, direct[:clients], op, srv.Pid(), nil)
			})
			b.Run(fmt.Sprintf("op=%s/clients=%d/proxy", op.name, clients), func(b *testing.B) {
				runClients(b, proxied[:clients], op, srv.Pid(), pc)
			})
		}
	}
}

// runClients runs b.N turns over the connections, one goroutine each,
// and reports what BenchmarkProxy says, and the load average at the end.
func runClients(b *testing.B, conns []*fleare.Conn, op proxyOp, srvPid int, pc *proxyChild) {
	ctx := context.Background()
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	snap := func() (self, server, prox time.Duration, mallocs uint64) {
		self = selfCPU()
		server, _ = procCPU(srvPid)
		if pc != nil {
			var err error
			if mallocs, prox, err = pc.stats(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.ReportAllocs()
	self0, srv0, prox0, mallocs0 := snap()
	b.ResetTimer()
	for i, c := range conns {
		wg.Go(func() {
			for k := int64(0); ; k++ {
				n := next.Add(1) - 1
				if n >= int64(b.N) {
					return
				}
				start := time.Now()
				if err := op.do(ctx, c, i, k); err != nil {
					b.Error(err)
					return
				}
				lat[n] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	self1, srv1, prox1, mallocs1 := snap()
	reqs := float64(b.N * op.reqs)
	perReq := func(d time.Duration) float64 { return float64(d.Microseconds()) / reqs }
	slices.Sort(lat)
	b.ReportMetric(reqs/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(perReq(self1-self0), "clients-cpu-µs/req")
	b.ReportMetric(perReq(srv1-srv0), "server-cpu-µs/req")
	if pc != nil {
		b.ReportMetric(perReq(prox1-prox0), "proxy-cpu-µs/req")
		// The stats request itself allocates a little: negligible over b.N.
		b.ReportMetric(float64(mallocs1-mallocs0)/reqs, "proxy-allocs/req")
	}
	if l, ok := load1(); ok {
		b.ReportMetric(l, "load1")
	}
}

// TestProxyHarness checks BenchmarkProxy's plumbing quickly: the proxy
// child starts, clients reach the server directly and through it, and its
// stats move.
func TestProxyHarness(t *testing.T) {
	srv, err := childserver.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pc, err := startProxyChild(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := pc.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := srv.WaitConns(proxyPoolSize); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	direct := dialAll(t, srv.Host, srv.Port, 2, fleare.Options{})
	proxied := dialAll(t, pc.host, pc.port, 2, fleare.Options{Username: benchUser, Password: benchPass})
	m0, _, err := pc.stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range proxyOps {
		for i, c := range slices.Concat(direct, proxied) {
			for n := range int64(4) {
				if err := op.do(ctx, c, i, n); err != nil {
					t.Fatalf("%s on connection %d: %v", op.name, i, err)
				}
			}
		}
	}
	m1, _, err := pc.stats()
	if err != nil {
		t.Fatal(err)
	}
	if m1 <= m0 {
		t.Errorf("the proxy child's allocation count did not move (%d, then %d): is it serving?", m0, m1)
	}
	if _, ok := procCPU(srv.Pid()); !ok {
		t.Log("no /proc: the server's CPU time is not reported")
	}
}
