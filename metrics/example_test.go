package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/metrics"
	"github.com/fleare-manager/fleare-manager/spec"
)

// A manager whose metrics are served at /metrics.
func Example() {
	srv, err := fleartest.Start(fleartest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	lat := metrics.New(metrics.Options{})
	m, err := manager.New(manager.Options{RequestObserver: lat.Observe})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(context.Background())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(m, lat))

	cfg, err := spec.Parse("example.yaml", fmt.Appendf(nil,
		"version: 1\ntargets:\n  cache: {host: %s, port: %d, pool: {size: 2}}\n", srv.Host(), srv.Port()))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Apply(ctx, cfg); err != nil {
		log.Fatal(err)
	}
	if err := m.Client("cache").Ping(ctx); err != nil {
		log.Fatal(err)
	}

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"fleare_manager_pool_open_connections", "fleare_manager_requests_total", "fleare_manager_request_duration_seconds_count", "fleare_manager_config_last_reload_successful"} {
			if strings.HasPrefix(line, p+" ") || strings.HasPrefix(line, p+"{") {
				fmt.Println(line)
			}
		}
	}
	// Output:
	// fleare_manager_config_last_reload_successful 1
	// fleare_manager_pool_open_connections{target="cache"} 2
	// fleare_manager_request_duration_seconds_count{target="cache"} 1
	// fleare_manager_requests_total{target="cache"} 1
}
