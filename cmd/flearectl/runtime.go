package main

import (
	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/metrics"
)

// newRuntime builds what serve and demo run: a manager with o, its admin
// API with ao, and GET /metrics on that API, with request latencies fed
// from the manager's clients.
func newRuntime(o manager.Options, ao admin.Options) (*manager.Manager, *admin.Server, error) {
	lat := metrics.New(metrics.Options{})
	o.RequestObserver = lat.Observe
	m, err := manager.New(o)
	if err != nil {
		return nil, nil, err
	}
	api := admin.NewServer(m, ao)
	api.Handle("GET /metrics", metrics.Handler(m, lat))
	return m, api, nil
}
