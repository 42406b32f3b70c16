package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/manager"
)

// Pause, resume and reconnect through the API: pause holds calls until
// resume, reconnect replaces every connection, and the replies, status and
// events say so.
func TestControlRoutes(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	if code, body := f.do(t, "POST", "/v1/apply?file=/etc/fleare.yaml", configYAML(srv, 2)); code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	sock := serveUnix(t, f.api, f.api)
	c := admin.NewClient(admin.ClientOptions{Socket: sock})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	reply, err := c.Pause(ctx, "cache", 5*time.Second)
	if err != nil || reply != (admin.ControlReply{Target: "cache", Paused: true, Drained: true}) {
		t.Fatalf("Pause = %+v, %v", reply, err)
	}
	// A call made now is held (within the target's 2s request timeout).
	errc := make(chan error, 1)
	go func() { errc <- f.m.Client("cache").Ping(ctx) }()
	waitFor(t, "a held call", func() bool {
		st, err := c.Status(ctx)
		return err == nil && st.Targets[0].Held == 1 && st.Targets[0].Paused
	})
	code, body := f.do(t, "GET", "/v1/status", "")
	if code != http.StatusOK || !strings.Contains(body, `"paused":true`) || !strings.Contains(body, `"held":1`) {
		t.Fatalf("status JSON while paused: %d %s", code, body)
	}
	reply, err = c.Resume(ctx, "cache")
	if err != nil || reply != (admin.ControlReply{Target: "cache"}) {
		t.Fatalf("Resume = %+v, %v", reply, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("held call after resume: %v", err)
	}

	accepted := srv.Accepted()
	reply, err = c.Reconnect(ctx, "cache", 10*time.Second)
	if err != nil || reply != (admin.ControlReply{Target: "cache", Done: true}) {
		t.Fatalf("Reconnect = %+v, %v", reply, err)
	}
	if got := srv.Accepted() - accepted; got != 2 {
		t.Fatalf("reconnect opened %d connections, want 2", got)
	}

	// Read at once: the history records an event before the request that
	// caused it is answered.
	var types []string
	code, body = f.do(t, "GET", "/v1/events", "")
	for line := range strings.Lines(body) {
		var e manager.Event
		if json.Unmarshal([]byte(line), &e) == nil && strings.HasPrefix(string(e.Type), "target.") {
			types = append(types, string(e.Type))
		}
	}
	want := "target.created target.paused target.resumed target.reconnected"
	if code != http.StatusOK || strings.Join(types, " ") != want {
		t.Fatalf("events: %d %v, want %s", code, types, want)
	}
}

// Pause whose timeout passes with a request in flight answers 200 with
// drained false: the target is paused all the same.
func TestPauseTimeoutNotDrained(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	if code, body := f.do(t, "POST", "/v1/apply?file=/etc/fleare.yaml", configYAML(srv, 1)); code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	srv.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = f.m.Client("cache").Ping(ctx) }()
	waitFor(t, "a request in flight", func() bool { return f.m.Status().Targets[0].InFlight == 1 })
	code, body := f.do(t, "POST", "/v1/targets/cache/pause?timeout=1ms", "")
	var reply admin.ControlReply
	if err := json.Unmarshal([]byte(body), &reply); code != http.StatusOK || err != nil ||
		reply != (admin.ControlReply{Target: "cache", Paused: true, InFlight: 1}) {
		t.Fatalf("pause: %d %s", code, body)
	}
	cancel()
	<-done
	srv.SetLatency(0)
}

func TestControlErrors(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	if code, body := f.do(t, "POST", "/v1/apply?file=/etc/fleare.yaml", configYAML(srv, 1)); code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	for _, tc := range []struct {
		method, path string
		code         int
		msg          string
	}{
		{"POST", "/v1/targets/nope/pause", http.StatusNotFound, "unknown target"},
		{"POST", "/v1/targets/nope/resume", http.StatusNotFound, "unknown target"},
		{"POST", "/v1/targets/nope/reconnect", http.StatusNotFound, "unknown target"},
		{"POST", "/v1/targets/cache/pause?timeout=soon", http.StatusBadRequest, "timeout"},
		{"POST", "/v1/targets/cache/reconnect?timeout=-1s", http.StatusBadRequest, "timeout"},
		{"GET", "/v1/targets/cache/pause", http.StatusMethodNotAllowed, ""},
	} {
		code, body := f.do(t, tc.method, tc.path, "")
		if code != tc.code || !strings.Contains(body, tc.msg) {
			t.Errorf("%s %s: %d %s, want %d and %q", tc.method, tc.path, code, body, tc.code, tc.msg)
		}
	}
	c := admin.NewClient(admin.ClientOptions{Socket: serveUnix(t, f.api, f.api)})
	defer c.Close()
	var ae *admin.APIError
	if _, err := c.Pause(context.Background(), "nope", 0); !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Fatalf("client Pause of an unknown target: %v", err)
	}
}
