package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/metrics"
	"github.com/fleare-manager/fleare-manager/spec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testUser = "app"
	testPass = "metrics-Secret-9"
)

// config renders a configuration of targets on srv, each name with its
// pool size.
func config(t testing.TB, srv *fleartest.Server, sizes map[string]int) *spec.Config {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ndefaults:\n  port: %d\n  username: %s\n  password: %q\n",
		srv.Port(), testUser, testPass)
	b.WriteString("  timeouts: {connect: 2s, request: 5s, drain: 1s}\n  retry: {max_retries: 1, interval: 20ms}\ntargets:\n")
	if len(sizes) == 0 {
		b.WriteString("  {}\n")
	}
	for name, size := range sizes {
		fmt.Fprintf(&b, "  %s: {host: %s, pool: {size: %d}}\n", name, srv.Host(), size)
	}
	cfg, err := spec.Parse("test.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", b.String(), err)
	}
	return cfg
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// setup starts a server and a manager whose requests lat observes.
func setup(t *testing.T, lat *metrics.Metrics) (*fleartest.Server, *manager.Manager) {
	t.Helper()
	srv := fleartest.NewServer(t, fleartest.Options{Users: map[string]string{testUser: testPass}})
	var obs func(context.Context, string, time.Duration, error)
	if lat != nil {
		obs = lat.Observe
	}
	m, err := manager.New(manager.Options{RequestObserver: obs, HealthCheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return srv, m
}

func apply(t *testing.T, m *manager.Manager, cfg *spec.Config) {
	t.Helper()
	if _, err := m.Apply(testCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
}

func TestPoolMetricsFromStatus(t *testing.T) {
	lat := metrics.New(metrics.Options{})
	srv, m := setup(t, lat)
	apply(t, m, config(t, srv, map[string]int{"cache": 2}))
	ctx := testCtx(t)
	c := m.Client("cache")
	for range 3 {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Do(ctx, "SET", "only-a-key"); err == nil {
		t.Fatal("SET with one argument succeeded")
	}

	const want = `
# HELP fleare_manager_config_generation Generation of the configuration in force: accepted configurations that changed something.
# TYPE fleare_manager_config_generation gauge
fleare_manager_config_generation 1
# HELP fleare_manager_config_last_reload_successful Whether the last configuration attempt was accepted (1: applied, partial or unchanged) or rejected (0).
# TYPE fleare_manager_config_last_reload_successful gauge
fleare_manager_config_last_reload_successful 1
# HELP fleare_manager_config_reloads_total Configuration attempts (Apply, file change, SIGHUP) by result: applied, partial, rejected, unchanged.
# TYPE fleare_manager_config_reloads_total counter
fleare_manager_config_reloads_total{result="applied"} 1
fleare_manager_config_reloads_total{result="partial"} 0
fleare_manager_config_reloads_total{result="rejected"} 0
fleare_manager_config_reloads_total{result="unchanged"} 0
# HELP fleare_manager_connections_replaced_total Connections of the target's serving pool that were lost (broken, timed out, found dead) and replaced.
# TYPE fleare_manager_connections_replaced_total counter
fleare_manager_connections_replaced_total{target="cache"} 0
# HELP fleare_manager_dial_failures_total Failed connection attempts by the target's serving pool.
# TYPE fleare_manager_dial_failures_total counter
fleare_manager_dial_failures_total{target="cache"} 0
# HELP fleare_manager_dials_total Connection attempts (dial plus authentication) by the target's serving pool.
# TYPE fleare_manager_dials_total counter
fleare_manager_dials_total{target="cache"} 2
# HELP fleare_manager_draining_pools Pools taken out of service (replaced, deleted or closed) that are still closing.
# TYPE fleare_manager_draining_pools gauge
fleare_manager_draining_pools 0
# HELP fleare_manager_events_dropped_total Events lost by subscribers that fell behind.
# TYPE fleare_manager_events_dropped_total counter
fleare_manager_events_dropped_total 0
# HELP fleare_manager_pool_desired_connections Connections the target's pool aims to keep open.
# TYPE fleare_manager_pool_desired_connections gauge
fleare_manager_pool_desired_connections{target="cache"} 2
# HELP fleare_manager_pool_idle_connections Idle connections in the target's pool.
# TYPE fleare_manager_pool_idle_connections gauge
fleare_manager_pool_idle_connections{target="cache"} 2
# HELP fleare_manager_pool_in_use_connections Connections of the target's pool lent to requests.
# TYPE fleare_manager_pool_in_use_connections gauge
fleare_manager_pool_in_use_connections{target="cache"} 0
# HELP fleare_manager_pool_open_connections Connections open in the target's pool: idle plus in use.
# TYPE fleare_manager_pool_open_connections gauge
fleare_manager_pool_open_connections{target="cache"} 2
# HELP fleare_manager_pool_waiting_requests Callers waiting for a connection of the target's pool.
# TYPE fleare_manager_pool_waiting_requests gauge
fleare_manager_pool_waiting_requests{target="cache"} 0
# HELP fleare_manager_request_errors_total Calls to the target that failed for a reason other than an "Error" reply: no connection in time, queue full, connection broken, timeout.
# TYPE fleare_manager_request_errors_total counter
fleare_manager_request_errors_total{target="cache"} 0
# HELP fleare_manager_requests_total Requests sent on a connection of the target's serving pool.
# TYPE fleare_manager_requests_total counter
fleare_manager_requests_total{target="cache"} 4
# HELP fleare_manager_server_errors_total "Error" replies from the target's server.
# TYPE fleare_manager_server_errors_total counter
fleare_manager_server_errors_total{target="cache"} 1
# HELP fleare_manager_target_connected Whether the target's serving pool is connected (at least one connection open): 1 or 0.
# TYPE fleare_manager_target_connected gauge
fleare_manager_target_connected{target="cache"} 1
# HELP fleare_manager_targets Targets in the configuration in force.
# TYPE fleare_manager_targets gauge
fleare_manager_targets 1
`
	col := metrics.NewCollector(m, lat)
	names := []string{
		"fleare_manager_config_generation", "fleare_manager_config_last_reload_successful",
		"fleare_manager_config_reloads_total", "fleare_manager_connections_replaced_total",
		"fleare_manager_dial_failures_total", "fleare_manager_dials_total", "fleare_manager_draining_pools",
		"fleare_manager_events_dropped_total", "fleare_manager_pool_desired_connections",
		"fleare_manager_pool_idle_connections", "fleare_manager_pool_in_use_connections",
		"fleare_manager_pool_open_connections", "fleare_manager_pool_waiting_requests",
		"fleare_manager_request_errors_total", "fleare_manager_requests_total",
		"fleare_manager_server_errors_total", "fleare_manager_target_connected", "fleare_manager_targets",
	}
	if err := testutil.CollectAndCompare(col, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}

	fams := gather(t, col)
	applied := m.Status().LastReload.Time
	if got := single(t, fams, "fleare_manager_config_last_reload_success_timestamp_seconds").GetGauge().GetValue(); got != unix(applied) {
		t.Errorf("last success timestamp = %v, want %v", got, unix(applied))
	}
	h := series(t, fams, "fleare_manager_request_duration_seconds", "cache").GetHistogram()
	if h.GetSampleCount() != 4 || h.GetSampleSum() <= 0 {
		t.Errorf("latency histogram: count %d, sum %v; want 4 requests", h.GetSampleCount(), h.GetSampleSum())
	}
	if n := len(h.GetBucket()); n != len(metrics.DefaultBuckets) {
		t.Errorf("histogram has %d buckets, want %d", n, len(metrics.DefaultBuckets))
	}
}

// A target that leaves the configuration leaves the metrics, its latency
// histogram included; one that joins gets a histogram before its first
// request.
func TestRemovedTargetSeriesDisappear(t *testing.T) {
	lat := metrics.New(metrics.Options{Buckets: []float64{0.001, 1}})
	srv, m := setup(t, lat)
	apply(t, m, config(t, srv, map[string]int{"a": 1, "b": 1}))
	ctx := testCtx(t)
	for _, name := range []string{"a", "b"} {
		if err := m.Client(name).Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	col := metrics.NewCollector(m, lat)
	if got := targetsOf(gather(t, col), "fleare_manager_request_duration_seconds"); got != "a,b" {
		t.Fatalf("histogram targets = %q, want a,b", got)
	}

	apply(t, m, config(t, srv, map[string]int{"a": 1, "c": 1}))
	fams := gather(t, col)
	for _, name := range []string{"fleare_manager_request_duration_seconds", "fleare_manager_pool_open_connections", "fleare_manager_requests_total"} {
		if got := targetsOf(fams, name); got != "a,c" {
			t.Errorf("%s targets = %q, want a,c", name, got)
		}
	}
	if n := series(t, fams, "fleare_manager_request_duration_seconds", "c").GetHistogram().GetSampleCount(); n != 0 {
		t.Errorf("new target's histogram count = %d, want 0", n)
	}
	if n := series(t, fams, "fleare_manager_request_duration_seconds", "a").GetHistogram().GetSampleCount(); n != 1 {
		t.Errorf("kept target's histogram count = %d, want 1", n)
	}
	if got := single(t, fams, "fleare_manager_targets").GetGauge().GetValue(); got != 2 {
		t.Errorf("targets = %v, want 2", got)
	}
}

// Calls to names that are not configured add no series.
func TestUnknownTargetNotObserved(t *testing.T) {
	lat := metrics.New(metrics.Options{})
	srv, m := setup(t, lat)
	apply(t, m, config(t, srv, map[string]int{"a": 1}))
	err := m.Client("no-such-target").Ping(testCtx(t))
	if !errors.Is(err, manager.ErrUnknownTarget) {
		t.Fatalf("Ping on an unknown target: %v", err)
	}
	if got := targetsOf(gather(t, metrics.NewCollector(m, lat)), "fleare_manager_request_duration_seconds"); got != "a" {
		t.Fatalf("histogram targets = %q, want a", got)
	}
}

// fakeSource returns a fixed Status.
type fakeSource struct{ st manager.Status }

func (f *fakeSource) Status() manager.Status { return f.st }

func TestLastReloadGauges(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	src := &fakeSource{}
	col := metrics.NewCollector(src, nil)
	const (
		okName   = "fleare_manager_config_last_reload_successful"
		timeName = "fleare_manager_config_last_reload_success_timestamp_seconds"
	)

	// Before any attempt: neither gauge.
	fams := gather(t, col)
	if fams[okName] != nil || fams[timeName] != nil {
		t.Fatal("last-reload gauges exported before any configuration attempt")
	}

	// A rejection first: not successful, no success time known.
	src.st.LastReload = &manager.Reload{Time: t0, Result: manager.ReloadRejected}
	fams = gather(t, col)
	if got := single(t, fams, okName).GetGauge().GetValue(); got != 0 {
		t.Errorf("after a rejection, successful = %v, want 0", got)
	}
	if fams[timeName] != nil {
		t.Error("success time exported though no success was ever seen")
	}

	for _, step := range []struct {
		result manager.ReloadResult
		at     time.Time
		wantOK float64
		wantAt time.Time
	}{
		{manager.ReloadPartial, t0.Add(time.Second), 1, t0.Add(time.Second)},
		{manager.ReloadRejected, t0.Add(2 * time.Second), 0, t0.Add(time.Second)},
		{manager.ReloadUnchanged, t0.Add(3 * time.Second), 1, t0.Add(3 * time.Second)},
		{manager.ReloadApplied, t0.Add(4 * time.Second), 1, t0.Add(4 * time.Second)},
		{manager.ReloadRejected, t0.Add(5 * time.Second), 0, t0.Add(4 * time.Second)},
	} {
		src.st.LastReload = &manager.Reload{Time: step.at, Result: step.result}
		src.st.LastSuccess = step.wantAt // as the manager keeps it
		fams := gather(t, col)
		if got := single(t, fams, okName).GetGauge().GetValue(); got != step.wantOK {
			t.Errorf("after %s: successful = %v, want %v", step.result, got, step.wantOK)
		}
		if got := single(t, fams, timeName).GetGauge().GetValue(); got != unix(step.wantAt) {
			t.Errorf("after %s: success time = %v, want %v", step.result, got, unix(step.wantAt))
		}
	}
}

func TestReloadCounters(t *testing.T) {
	src := &fakeSource{st: manager.Status{Reloads: manager.ReloadCounts{Applied: 3, Partial: 2, Rejected: 5, Unchanged: 7}, EventsDropped: 11}}
	const want = `
# HELP fleare_manager_config_reloads_total Configuration attempts (Apply, file change, SIGHUP) by result: applied, partial, rejected, unchanged.
# TYPE fleare_manager_config_reloads_total counter
fleare_manager_config_reloads_total{result="applied"} 3
fleare_manager_config_reloads_total{result="partial"} 2
fleare_manager_config_reloads_total{result="rejected"} 5
fleare_manager_config_reloads_total{result="unchanged"} 7
# HELP fleare_manager_events_dropped_total Events lost by subscribers that fell behind.
# TYPE fleare_manager_events_dropped_total counter
fleare_manager_events_dropped_total 11
`
	err := testutil.CollectAndCompare(metrics.NewCollector(src, nil), strings.NewReader(want),
		"fleare_manager_config_reloads_total", "fleare_manager_events_dropped_total")
	if err != nil {
		t.Fatal(err)
	}
}

func TestMetricNamesLint(t *testing.T) {
	lat := metrics.New(metrics.Options{})
	lat.Observe(context.Background(), "a", time.Millisecond, nil)
	src := &fakeSource{st: manager.Status{
		LastReload: &manager.Reload{Time: time.Now(), Result: manager.ReloadApplied},
		Targets:    []manager.TargetStatus{{Name: "a", Stats: fleare.Stats{State: fleare.StateConnected}}},
	}}
	problems, err := testutil.CollectAndLint(metrics.NewCollector(src, lat))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestRegister(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	src := &fakeSource{st: manager.Status{Targets: []manager.TargetStatus{{Name: "a", Stats: fleare.Stats{Open: 3}}}}}
	if err := metrics.Register(reg, src, metrics.New(metrics.Options{})); err != nil {
		t.Fatal(err)
	}
	if err := metrics.Register(reg, src, nil); err == nil {
		t.Fatal("registering the same metrics twice succeeded")
	}
	const want = `
# HELP fleare_manager_pool_open_connections Connections open in the target's pool: idle plus in use.
# TYPE fleare_manager_pool_open_connections gauge
fleare_manager_pool_open_connections{target="a"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "fleare_manager_pool_open_connections"); err != nil {
		t.Fatal(err)
	}
}

func TestHandler(t *testing.T) {
	lat := metrics.New(metrics.Options{})
	srv, m := setup(t, lat)
	apply(t, m, config(t, srv, map[string]int{"cache": 3}))
	if err := m.Client("cache").Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(metrics.Handler(m, lat))
	defer hs.Close()
	client := hs.Client()
	defer client.CloseIdleConnections()
	resp, err := client.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	for _, line := range []string{
		`fleare_manager_pool_open_connections{target="cache"} 3`,
		`fleare_manager_request_duration_seconds_count{target="cache"} 1`,
		`fleare_manager_config_last_reload_successful 1`,
		"go_goroutines ",
		"process_open_fds ",
	} {
		if !strings.Contains(string(body), "\n"+line) {
			t.Errorf("GET /metrics lacks %q", line)
		}
	}
	if strings.Contains(string(body), testPass) {
		t.Error("the password appears in the metrics")
	}
}

// gather collects c's metrics, by family name.
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// single returns the one sample of a family without labels.
func single(t *testing.T, fams map[string]*dto.MetricFamily, name string) *dto.Metric {
	t.Helper()
	f := fams[name]
	if f == nil || len(f.GetMetric()) != 1 {
		t.Fatalf("%s: want exactly one sample, got %v", name, f)
	}
	return f.GetMetric()[0]
}

// series returns the sample of a family for one target.
func series(t *testing.T, fams map[string]*dto.MetricFamily, name, target string) *dto.Metric {
	t.Helper()
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "target" && l.GetValue() == target {
				return m
			}
		}
	}
	t.Fatalf("%s has no series for target %q", name, target)
	return nil
}

// targetsOf lists the target labels of a family, comma-separated, sorted.
func targetsOf(fams map[string]*dto.MetricFamily, name string) string {
	var out []string
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "target" {
				out = append(out, l.GetValue())
			}
		}
	}
	return strings.Join(out, ",")
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// The pool's wait time, waits, refusals, requests in flight and abandoned,
// closes by reason and endpoint come from the target's fleare.Stats as
// they are.
func TestPoolWaitsAndCloses(t *testing.T) {
	src := &fakeSource{st: manager.Status{Targets: []manager.TargetStatus{{Name: "a", Stats: fleare.Stats{
		Addr: "10.0.0.5:9219", State: fleare.StateConnected, WaitTime: 1500 * time.Millisecond, QueueFull: 7, Waits: 9,
		InFlight: 10, Abandoned: 11,
		ClosedBroken: 1, ClosedTimeout: 2, ClosedCanceled: 3, ClosedResize: 4, ClosedShutdown: 5, ClosedForced: 6, ClosedStray: 8,
		ClosedLifetime: 12, ClosedReconnect: 13, Paused: true, Held: 14,
	}}}}}
	const want = `
# HELP fleare_manager_pool_abandoned_requests_total Requests to the target canceled after they were sent: their connections stayed up, their replies were read and discarded.
# TYPE fleare_manager_pool_abandoned_requests_total counter
fleare_manager_pool_abandoned_requests_total{target="a"} 11
# HELP fleare_manager_pool_connections_closed_total Connections of the target's serving pool closed, by reason: broken (I/O or protocol error, or the peer went away), timeout and canceled (mid-request), resize (the pool shrank), shutdown (closed by Close), forced (closed by Close with a request in flight), stray (holding a reply no request asked for), lifetime (older than pool.max_lifetime, replaced), reconnect (replaced by a reconnect); a reason for each Closed counter of the pool's statistics.
# TYPE fleare_manager_pool_connections_closed_total counter
fleare_manager_pool_connections_closed_total{reason="broken",target="a"} 1
fleare_manager_pool_connections_closed_total{reason="canceled",target="a"} 3
fleare_manager_pool_connections_closed_total{reason="forced",target="a"} 6
fleare_manager_pool_connections_closed_total{reason="lifetime",target="a"} 12
fleare_manager_pool_connections_closed_total{reason="reconnect",target="a"} 13
fleare_manager_pool_connections_closed_total{reason="resize",target="a"} 4
fleare_manager_pool_connections_closed_total{reason="shutdown",target="a"} 5
fleare_manager_pool_connections_closed_total{reason="stray",target="a"} 8
fleare_manager_pool_connections_closed_total{reason="timeout",target="a"} 2
# HELP fleare_manager_pool_held_requests Calls to the target held by a pause, waiting for resume.
# TYPE fleare_manager_pool_held_requests gauge
fleare_manager_pool_held_requests{target="a"} 14
# HELP fleare_manager_pool_in_flight_requests Requests holding a connection of the target's serving pool (with pipelining, those on the wire).
# TYPE fleare_manager_pool_in_flight_requests gauge
fleare_manager_pool_in_flight_requests{target="a"} 10
# HELP fleare_manager_pool_queue_full_total Calls to the target refused at once because its pool's queue of waiting callers was full.
# TYPE fleare_manager_pool_queue_full_total counter
fleare_manager_pool_queue_full_total{target="a"} 7
# HELP fleare_manager_pool_wait_seconds_total Time callers spent waiting for a connection of the target's serving pool.
# TYPE fleare_manager_pool_wait_seconds_total counter
fleare_manager_pool_wait_seconds_total{target="a"} 1.5
# HELP fleare_manager_pool_waits_total Calls to the target that had to wait for a connection of its serving pool.
# TYPE fleare_manager_pool_waits_total counter
fleare_manager_pool_waits_total{target="a"} 9
# HELP fleare_manager_target_connected Whether the target's serving pool is connected (at least one connection open): 1 or 0.
# TYPE fleare_manager_target_connected gauge
fleare_manager_target_connected{target="a"} 1
# HELP fleare_manager_target_paused Whether the target is paused (flearectl pause): 1 or 0.
# TYPE fleare_manager_target_paused gauge
fleare_manager_target_paused{target="a"} 1
# HELP fleare_manager_target_info The endpoint (host:port) of the target's serving pool; always 1.
# TYPE fleare_manager_target_info gauge
fleare_manager_target_info{endpoint="10.0.0.5:9219",target="a"} 1
`
	names := []string{"fleare_manager_pool_abandoned_requests_total", "fleare_manager_pool_connections_closed_total",
		"fleare_manager_pool_in_flight_requests", "fleare_manager_pool_queue_full_total",
		"fleare_manager_pool_wait_seconds_total", "fleare_manager_pool_waits_total", "fleare_manager_target_connected",
		"fleare_manager_target_info", "fleare_manager_pool_held_requests", "fleare_manager_target_paused"}
	if err := testutil.CollectAndCompare(metrics.NewCollector(src, nil), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

// Every counter of fleare.Stats that counts closed connections has its
// reason in fleare_manager_pool_connections_closed_total, so that one the
// pool adds is not lost.
func TestEveryCloseReasonExported(t *testing.T) {
	var st fleare.Stats
	v := reflect.ValueOf(&st).Elem()
	var want []string
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if rest, ok := strings.CutPrefix(name, "Closed"); ok {
			v.Field(i).SetUint(uint64(i + 1))
			want = append(want, fmt.Sprintf("%s=%d", strings.ToLower(rest), i+1))
		}
	}
	if len(want) < 7 {
		t.Fatalf("only %d Closed counters in fleare.Stats: %v", len(want), want)
	}
	src := &fakeSource{st: manager.Status{Targets: []manager.TargetStatus{{Name: "a", Stats: st}}}}
	fam := gather(t, metrics.NewCollector(src, nil))["fleare_manager_pool_connections_closed_total"]
	var got []string
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "reason" {
				got = append(got, fmt.Sprintf("%s=%d", l.GetValue(), int(m.GetCounter().GetValue())))
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("closed_total = %v, want %v", got, want)
	}
}

// fleare_manager_build_info names the module version, the revision and
// the Go version, as an info metric.
func TestBuildInfo(t *testing.T) {
	fam := gather(t, metrics.NewCollector(&fakeSource{}, nil))["fleare_manager_build_info"]
	if fam == nil || len(fam.GetMetric()) != 1 || fam.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Fatalf("build_info: %v", fam)
	}
	labels := map[string]string{}
	for _, l := range fam.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["goversion"] != runtime.Version() || labels["version"] == "" {
		t.Errorf("build_info labels: %v", labels)
	}
	if _, ok := labels["revision"]; !ok {
		t.Errorf("build_info has no revision label: %v", labels)
	}
}

// Every metric the collector yields is in the README's metrics table and
// in the package documentation's.
func TestEveryMetricDocumented(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	lat := metrics.New(metrics.Options{})
	lat.Observe(context.Background(), "a", time.Millisecond, nil)
	src := &fakeSource{st: manager.Status{
		LastReload:  &manager.Reload{Time: time.Now(), Result: manager.ReloadApplied},
		LastSuccess: time.Now(),
		Targets:     []manager.TargetStatus{{Name: "a", Proxy: &manager.ProxyStatus{}}},
	}}
	fams := gather(t, metrics.NewCollector(src, lat))
	if len(fams) < 38 {
		t.Fatalf("only %d metric families gathered", len(fams))
	}
	for name := range fams {
		if !strings.Contains(string(readme), "| `"+name) {
			t.Errorf("README's metrics table lacks %s", name)
		}
		if !strings.Contains(string(doc), "//\t"+name+" ") {
			t.Errorf("the package documentation's table lacks %s", name)
		}
	}
}
