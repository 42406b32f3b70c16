package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleare-manager/fleare-manager/manager"
)

// Descriptions of the metrics of a target's proxy (manager.ProxyStatus),
// exported for targets with a listen section only.
var (
	descProxyListening   = desc("proxy_listening", "Whether the target's proxy has a listener open for apps: 1 or 0 (0: its listen address could not be opened).", "target")
	descProxyClients     = desc("proxy_clients", "App connections open to the target's proxy, logged in or not.", "target")
	descProxySubscribers = desc("proxy_subscribers", "Apps of the target's proxy holding a dedicated pub/sub connection to the server.", "target")
	descProxyAccepted    = desc("proxy_connections_accepted_total", "App connections accepted by the target's proxy.", "target")
	descProxyRequests    = desc("proxy_requests_total", "Requests read from logged-in apps by the target's proxy.", "target")
	descProxyErrors      = desc("proxy_errors_total", "Requests the target's proxy answered with an error of its own: refused commands, undecodable frames, and requests the pool failed.", "target")
	descProxyBackendErrs = desc("proxy_backend_errors_total", "App requests that failed between the proxy and the server (no connection in time, timeout), answered with an error.", "target")
	descProxyAuthFails   = desc("proxy_auth_failures_total", "App logins the target's proxy refused, auth timeouts included.", "target")
	descProxyLimitHits   = desc("proxy_client_limit_hits_total", "App connections refused because listen.max_clients were open.", "target")
	descProxyDropped     = desc("proxy_clients_dropped_total", "Logged-in apps the target's proxy closed, by reason: read_timeout (a frame trickled in), write_timeout (replies left unread), bad_frame (invalid length), forced (requests still in flight at the end of a drain).", "target", "reason")
)

var proxyDescs = []*prometheus.Desc{
	descProxyListening, descProxyClients, descProxySubscribers, descProxyAccepted, descProxyRequests,
	descProxyErrors, descProxyBackendErrs, descProxyAuthFails, descProxyLimitHits, descProxyDropped,
}

// collectProxy sends the metrics of a target's proxy, if it has one.
func collectProxy(t manager.TargetStatus,
	gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64, ...string)) {
	p := t.Proxy
	if p == nil {
		return
	}
	listening := 0.0
	if p.Listening != "" {
		listening = 1
	}
	gauge(descProxyListening, listening, t.Name)
	gauge(descProxyClients, float64(p.Clients), t.Name)
	gauge(descProxySubscribers, float64(p.Subscribers), t.Name)
	counter(descProxyAccepted, p.Accepted, t.Name)
	counter(descProxyRequests, p.Requests, t.Name)
	counter(descProxyErrors, p.Errors, t.Name)
	counter(descProxyBackendErrs, p.BackendErrors, t.Name)
	counter(descProxyAuthFails, p.AuthFailures, t.Name)
	counter(descProxyLimitHits, p.LimitHits, t.Name)
	counter(descProxyDropped, p.Dropped.ReadTimeout, t.Name, "read_timeout")
	counter(descProxyDropped, p.Dropped.WriteTimeout, t.Name, "write_timeout")
	counter(descProxyDropped, p.Dropped.BadFrame, t.Name, "bad_frame")
	counter(descProxyDropped, p.Dropped.Forced, t.Name, "forced")
}
