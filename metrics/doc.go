// Package metrics exposes a manager's state to Prometheus: per-target pool
// gauges and counters, configuration reloads, dropped events, and a request
// latency histogram per target.
//
// The manager does not import this package: an application that embeds the
// manager pays for Prometheus only if it uses it. Pool gauges and counters
// are read from manager.Status at each scrape (nothing is counted twice, and
// a scrape costs one Status call); request latencies are recorded by
// Metrics.Observe, which the manager calls after every request once it is
// set as manager.Options.RequestObserver.
//
//	lat := metrics.New(metrics.Options{})
//	m, err := manager.New(manager.Options{RequestObserver: lat.Observe})
//	if err != nil {
//		return err
//	}
//	defer m.Close(context.Background())
//	http.Handle("GET /metrics", metrics.Handler(m, lat))
//	// or, with a registry of the application's own:
//	// err = metrics.Register(prometheus.DefaultRegisterer, m, lat)
//
// # Metrics
//
// Every name starts with fleare_manager_. Per-target series carry a target
// label (the target's name) and disappear when the target leaves the
// configuration. Per-target counters count from the moment the target's
// serving pool was opened: a replace (new endpoint or credentials) opens a
// new pool, which Prometheus sees as a counter reset.
//
//	name                                                        type       labels  meaning
//	fleare_manager_targets                                      gauge      -       targets in the configuration in force
//	fleare_manager_config_generation                            gauge      -       accepted configurations that changed something
//	fleare_manager_draining_pools                               gauge      -       pools taken out of service, still closing
//	fleare_manager_config_reloads_total                         counter    result  configuration attempts: applied, partial, rejected, unchanged
//	fleare_manager_config_last_reload_successful                gauge      -       1 if the last attempt was accepted (applied, partial, unchanged), 0 if rejected
//	fleare_manager_config_last_reload_success_timestamp_seconds gauge      -       Unix time of the last accepted attempt
//	fleare_manager_events_dropped_total                         counter    -       events lost by subscribers that fell behind
//	fleare_manager_target_connected                             gauge      target  1 if the serving pool has a connection open, else 0
//	fleare_manager_pool_desired_connections                     gauge      target  connections the pool aims to keep open
//	fleare_manager_pool_open_connections                        gauge      target  connections open (idle + in use)
//	fleare_manager_pool_idle_connections                        gauge      target  idle connections
//	fleare_manager_pool_in_use_connections                      gauge      target  connections lent to requests
//	fleare_manager_pool_waiting_requests                        gauge      target  callers waiting for a connection
//	fleare_manager_requests_total                               counter    target  requests sent on a connection
//	fleare_manager_request_errors_total                         counter    target  calls failed other than by an "Error" reply (no connection in time, queue full, broken connection, timeout)
//	fleare_manager_server_errors_total                          counter    target  "Error" replies
//	fleare_manager_dials_total                                  counter    target  connection attempts (dial + auth)
//	fleare_manager_dial_failures_total                          counter    target  failed connection attempts
//	fleare_manager_connections_replaced_total                   counter    target  connections lost (broken, timed out, found dead) and replaced
//	fleare_manager_pool_wait_seconds_total                      counter    target  time callers spent waiting for a connection
//	fleare_manager_pool_waits_total                             counter    target  calls that had to wait for a connection
//	fleare_manager_pool_queue_full_total                        counter    target  calls refused at once: the queue of waiting callers was full
//	fleare_manager_pool_in_flight_requests                      gauge      target  requests holding a connection (pipelined ones included)
//	fleare_manager_pool_abandoned_requests_total                counter    target  requests canceled after they were sent (their replies discarded)
//	fleare_manager_pool_connections_closed_total                counter    target, reason  connections closed: broken, timeout, canceled, resize, shutdown, forced, stray, lifetime, reconnect (one reason per Closed counter of fleare.Stats)
//	fleare_manager_target_paused                                gauge      target  1 while the target is paused (flearectl pause), else 0
//	fleare_manager_pool_held_requests                           gauge      target  calls held by a pause, waiting for resume
//	fleare_manager_target_info                                  gauge      target, endpoint  always 1: the serving pool's host:port
//	fleare_manager_build_info                                   gauge      version, revision, goversion  always 1: this program's fleare-manager version, VCS revision, Go version
//	fleare_manager_request_duration_seconds                     histogram  target  time taken by requests through a manager Client, wait for a connection included
//	fleare_manager_proxy_listening                              gauge      target  1 if the target's proxy has its listener open, else 0
//	fleare_manager_proxy_clients                                gauge      target  app connections open to the proxy
//	fleare_manager_proxy_subscribers                            gauge      target  apps holding a dedicated pub/sub connection
//	fleare_manager_proxy_connections_accepted_total             counter    target  app connections accepted
//	fleare_manager_proxy_requests_total                         counter    target  requests read from logged-in apps
//	fleare_manager_proxy_errors_total                           counter    target  app requests answered with the proxy's own error
//	fleare_manager_proxy_backend_errors_total                   counter    target  app requests the pool failed
//	fleare_manager_proxy_auth_failures_total                    counter    target  app logins refused
//	fleare_manager_proxy_client_limit_hits_total                counter    target  app connections refused at listen.max_clients
//	fleare_manager_proxy_clients_dropped_total                  counter    target, reason  logged-in apps closed by a limit: read_timeout, write_timeout, bad_frame, forced
//
// The proxy_* metrics are exported for targets with a listen section only;
// their counters run from the proxy's start and do not reset when a
// replace opens a new pool.
//
// The last-reload pair follows Prometheus's and Caddy's own
// config_last_reload_successful gauges. Neither is exported before the
// first configuration attempt, and the timestamp not before the first
// success (manager.Status.LastSuccess).
//
// The latency histogram of each configured target is exported from the
// first scrape on, with zero counts until its first request. Calls to names
// that are not configured are not recorded.
package metrics
