package reconcile_test

import (
	"fmt"
	"time"

	"github.com/fleare-manager/fleare-manager/reconcile"
	"github.com/fleare-manager/fleare-manager/spec"
)

func target(name, host string, size int, request time.Duration) spec.Target {
	return spec.Target{
		Name: name, Host: host, Port: spec.DefaultPort,
		Pool:     spec.Pool{Size: size, MaxQueue: spec.DefaultMaxQueue},
		Timeouts: spec.Timeouts{Connect: spec.DefaultConnectTimeout, Request: request, Drain: spec.DefaultDrainTimeout},
		Retry:    spec.Retry{MaxRetries: spec.DefaultMaxRetries, Interval: spec.DefaultRetryInterval},
	}
}

func ExampleDiff() {
	running := &spec.Config{Version: 1, Targets: []spec.Target{
		target("b", "10.0.0.6", 4, 30*time.Second),
		target("c", "10.0.0.7", 4, 30*time.Second),
		target("d", "10.0.0.8", 4, 2*time.Second),
		target("e", "10.0.0.9", 4, 30*time.Second),
	}}
	desired := &spec.Config{Version: 1, Targets: []spec.Target{
		target("a", "10.0.0.5", 8, 30*time.Second),
		target("c", "10.0.0.7", 8, 30*time.Second),
		target("d", "10.0.0.8", 4, 5*time.Second),
		target("e", "10.0.0.10", 4, 30*time.Second),
	}}

	plan := reconcile.Diff(desired, running)
	fmt.Print(plan)
	fmt.Println(plan.Actions[1].Current.Host, "→", plan.Actions[1].Desired.Host)
	// Output:
	// + create a (10.0.0.5:9219, pool 8)
	// ± replace e: host 10.0.0.9 → 10.0.0.10
	// ~ update d: timeouts.request 2s → 5s
	// ~ resize c: pool.size 4 → 8
	// - delete b (10.0.0.6:9219, pool 4)
	//
	// Plan: 1 to create, 1 to replace, 1 to update, 1 to resize, 1 to delete.
	// 10.0.0.9 → 10.0.0.10
}

func ExamplePlan_Empty() {
	cfg := &spec.Config{Version: 1, Targets: []spec.Target{target("a", "10.0.0.5", 8, time.Second)}}
	plan := reconcile.Diff(cfg, cfg) // as configured, whatever the pools' health: they heal themselves
	fmt.Println(plan.Empty())
	fmt.Print(plan)
	// Output:
	// true
	// No changes: the running targets match the configuration.
}
