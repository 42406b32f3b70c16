package bench_test

import (
	"math/bits"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// latencies is a histogram of durations with buckets about 6% wide: the
// bucket of d is its power of two and the next four bits below the top
// one. Recording costs a few nanoseconds and never allocates, so that
// every request of a run can be recorded. One goroutine owns a histogram;
// merge them at the end.
type latencies struct {
	counts [64 * 16]uint64
	n      uint64
}

func (h *latencies) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 1)))]++
	h.n++
}

func bucketOf(v uint64) int {
	e := bits.Len64(v) - 1 // position of the top bit
	if e < 4 {
		return int(v) // exact below 16 ns
	}
	return e*16 + int((v>>(e-4))&15)
}

// lowerBound is the smallest duration in bucket i.
func lowerBound(i int) time.Duration {
	e := i / 16
	if e < 4 {
		return time.Duration(i)
	}
	return time.Duration((16 + uint64(i%16)) << (e - 4))
}

func (h *latencies) merge(o *latencies) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the lower bound of the bucket holding quantile q.
func (h *latencies) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n-1))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return lowerBound(i)
		}
	}
	return lowerBound(len(h.counts) - 1)
}

// meter takes the figures every throughput benchmark reports beside
// ns/op and allocs/op: ops/s, the p50 and p99 latency of one operation,
// the CPU time per operation of this process (the client: user + system,
// from getrusage) and of the server's child process (from /proc, in
// 10 ms ticks, so rough for short runs), and the machine's load average
// at the end (the machine is shared).
type meter struct {
	serverPid      int
	cpu0, server0  time.Duration
	serverReadable bool
}

func startMeter(serverPid int) *meter {
	m := &meter{serverPid: serverPid}
	m.cpu0 = selfCPU()
	m.server0, m.serverReadable = procCPU(serverPid)
	return m
}

// report reports the figures for ops operations over elapsed.
func (m *meter) report(b *testing.B, ops int, elapsed time.Duration, lat *latencies) {
	cpu := selfCPU() - m.cpu0
	b.ReportMetric(float64(ops)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(lat.quantile(0.50).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat.quantile(0.99).Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(ops), "client-cpu-ns/op")
	if s1, ok := procCPU(m.serverPid); ok && m.serverReadable {
		b.ReportMetric(float64((s1-m.server0).Nanoseconds())/float64(ops), "server-cpu-ns/op")
	}
	if l, ok := load1(); ok {
		b.ReportMetric(l, "load1")
	}
}

// selfCPU returns the CPU time (user and system) this process used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns the CPU time (user and system) of process pid, from
// /proc/PID/stat, where it is counted in clock ticks of 10 ms.
func procCPU(pid int) (time.Duration, bool) {
	if pid == 0 {
		return 0, false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state): utime is field 14
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick, true
}

// load1 returns the one-minute load average.
func load1() (float64, bool) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0, false
	}
	l, err := strconv.ParseFloat(f[0], 64)
	return l, err == nil
}

func TestLatencyHistogram(t *testing.T) {
	var h latencies
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(c.q)
		if got > c.want || float64(got) < 0.93*float64(c.want) {
			t.Errorf("quantile(%v) = %v, want within 7%% below %v", c.q, got, c.want)
		}
	}
	for _, v := range []uint64{1, 15, 16, 17, 1000, 1 << 40} {
		if lb := lowerBound(bucketOf(v)); uint64(lb) > v || float64(lb) < 0.93*float64(v) {
			t.Errorf("bucket of %d starts at %d", v, lb)
		}
	}
}

func TestProcCPU(t *testing.T) {
	d, ok := procCPU(os.Getpid())
	if !ok || d < 0 {
		t.Fatalf("procCPU(self) = %v, %v: /proc/PID/stat unreadable or misparsed", d, ok)
	}
	if self := selfCPU(); d > self+20*time.Millisecond {
		t.Errorf("procCPU(self) = %v, more than getrusage's %v", d, self)
	}
}
