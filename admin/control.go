package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/fleare-manager/fleare-manager/manager"
)

// The operator controls of a target: pause, resume and reconnect.
//
//	POST /v1/targets/{name}/pause[?timeout=30s]
//	POST /v1/targets/{name}/resume
//	POST /v1/targets/{name}/reconnect[?timeout=30s]
//
// Each answers 200 with a ControlReply, 404 for a target not configured,
// 400 for a bad timeout, 503 once the manager is closing. Pause takes
// effect at once; its reply waits, up to timeout, until no request is in
// flight (Drained says whether that happened). Reconnect waits, up to
// timeout, until every connection is replaced (Done says whether that
// happened; the replacing goes on).

const (
	// DefaultControlTimeout is how long pause and reconnect wait when the
	// request gives no timeout.
	DefaultControlTimeout = 30 * time.Second
	// MaxControlTimeout bounds the timeout a request may give.
	MaxControlTimeout = time.Hour
)

// ControlReply is the reply to pause, resume and reconnect.
type ControlReply struct {
	// Target is the target's name.
	Target string `json:"target"`
	// Paused says whether the target is paused once the call returns.
	Paused bool `json:"paused"`
	// Drained (pause): no request was in flight when the reply was
	// written. InFlight is how many were, when not drained.
	Drained  bool `json:"drained,omitempty"`
	InFlight int  `json:"in_flight,omitempty"`
	// Done (reconnect): every connection open before was replaced. Stale
	// is how many are still to replace, when not done.
	Done  bool `json:"done,omitempty"`
	Stale int  `json:"stale,omitempty"`
	// Held is how many requests the pause holds now.
	Held int `json:"held"`
}

func (s *Server) controlRoutes() {
	s.mux.HandleFunc("POST /v1/targets/{name}/pause", s.pause)
	s.mux.HandleFunc("POST /v1/targets/{name}/resume", s.resume)
	s.mux.HandleFunc("POST /v1/targets/{name}/reconnect", s.reconnect)
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, "pause", func(ctx context.Context, name string) error { return s.m.Pause(ctx, name) })
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, "resume", func(_ context.Context, name string) error { return s.m.Resume(name) })
}

func (s *Server) reconnect(w http.ResponseWriter, r *http.Request) {
	s.control(w, r, "reconnect", func(ctx context.Context, name string) error { return s.m.Reconnect(ctx, name) })
}

// control runs op on the target of the request's path, bounded by the
// request's timeout parameter, and replies with the target's state.
func (s *Server) control(w http.ResponseWriter, r *http.Request, op string, run func(context.Context, string) error) {
	name := r.PathValue("name")
	d, err := controlTimeout(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	defer cancel()
	err = run(ctx, name)
	switch {
	case errors.Is(err, manager.ErrUnknownTarget):
		writeError(w, http.StatusNotFound, err.Error(), nil)
		return
	case errors.Is(err, manager.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error(), nil)
		return
	case err != nil && r.Context().Err() != nil:
		return // the client went away
	case err != nil && !errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, s.controlReply(name, op, err == nil))
}

// controlReply describes the target after op; finished says whether a
// pause drained or a reconnect completed within the timeout.
func (s *Server) controlReply(name, op string, finished bool) ControlReply {
	reply := ControlReply{Target: name}
	for _, t := range s.m.Status().Targets {
		if t.Name != name {
			continue
		}
		reply.Paused, reply.Held = t.Paused, t.Held
		switch {
		case op == "pause" && !finished:
			reply.InFlight = t.InFlight
		case op == "reconnect" && !finished:
			reply.Stale = t.Stale
		}
	}
	reply.Drained = op == "pause" && finished
	reply.Done = op == "reconnect" && finished
	return reply
}

// controlTimeout reads the timeout parameter.
func controlTimeout(q url.Values) (time.Duration, error) {
	v := q.Get("timeout")
	if v == "" {
		return DefaultControlTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > MaxControlTimeout {
		return 0, fmt.Errorf("timeout %q: want a duration from 1ns to %s", v, MaxControlTimeout)
	}
	return d, nil
}

// Pause pauses the target called name (see manager.Manager.Pause) and
// waits, up to timeout (0: DefaultControlTimeout), until none of its
// requests is in flight. The reply says whether that happened (Drained).
func (c *Client) Pause(ctx context.Context, name string, timeout time.Duration) (ControlReply, error) {
	return c.control(ctx, name, "pause", timeout)
}

// Resume ends the target's pause.
func (c *Client) Resume(ctx context.Context, name string) (ControlReply, error) {
	return c.control(ctx, name, "resume", 0)
}

// Reconnect replaces every connection of the target (see
// manager.Manager.Reconnect), waiting up to timeout (0:
// DefaultControlTimeout) for the last one. The reply says whether that
// happened (Done).
func (c *Client) Reconnect(ctx context.Context, name string, timeout time.Duration) (ControlReply, error) {
	return c.control(ctx, name, "reconnect", timeout)
}

func (c *Client) control(ctx context.Context, name, op string, timeout time.Duration) (ControlReply, error) {
	path := "/v1/targets/" + url.PathEscape(name) + "/" + op
	if timeout > 0 {
		path += "?timeout=" + url.QueryEscape(timeout.String())
	}
	var reply ControlReply
	err := c.call(ctx, http.MethodPost, path, nil, nil, &reply)
	return reply, err
}
