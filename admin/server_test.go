package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/reconcile"
	"github.com/fleare-manager/fleare-manager/spec"
)

func TestStatusAndConfig(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)

	code, body := f.do(t, "GET", "/v1/config", "")
	if code != http.StatusNotFound || !strings.Contains(body, "no configuration") {
		t.Errorf("config before any: %d %s", code, body)
	}
	code, body = f.do(t, "POST", "/v1/apply?file=/etc/fleare.yaml", configYAML(srv, 2))
	if code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}

	code, body = f.do(t, "GET", "/v1/status", "")
	var st manager.Status
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil {
		t.Fatalf("status: %d %v %s", code, err, body)
	}
	if len(st.Targets) != 1 || st.Targets[0].Name != "cache" || st.Targets[0].Desired != 2 || st.Generation != 1 {
		t.Errorf("status: %+v", st)
	}

	code, body = f.do(t, "GET", "/v1/config", "")
	if code != http.StatusOK || !strings.Contains(body, "password: "+spec.Mask) || !strings.Contains(body, "size: 2") {
		t.Errorf("config: %d\n%s", code, body)
	}
	if _, err := spec.Parse("in-force.yaml", []byte(body)); err != nil {
		t.Errorf("the configuration in force does not parse back: %v", err)
	}

	code, _ = f.do(t, "POST", "/v1/status", "")
	if code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/status: %d, want 405", code)
	}
}

func TestApplyDryRunDiffAndApply(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	cfg := configYAML(srv, 2)

	for _, path := range []string{"/v1/apply?dry_run=1&file=/x/c.yaml", "/v1/diff?file=/x/c.yaml"} {
		res := f.result(t, path, cfg)
		if !res.DryRun || len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Create || len(res.Outcomes) != 0 {
			t.Errorf("%s: %+v", path, res)
		}
		if n := len(f.m.Status().Targets); n != 0 {
			t.Fatalf("%s changed the manager: %d targets", path, n)
		}
	}

	res := f.result(t, "/v1/apply?file=/x/c.yaml", cfg)
	if res.DryRun || res.Generation != 1 || len(res.Outcomes) != 1 || res.Outcomes[0].Error != "" || res.Failed() {
		t.Errorf("apply: %+v", res)
	}
	if st := f.m.Status(); len(st.Targets) != 1 || st.Targets[0].Open != 2 {
		t.Errorf("after apply: %+v", st.Targets)
	}
	res = f.result(t, "/v1/diff?file=/x/c.yaml", cfg)
	if !res.Plan.Empty() {
		t.Errorf("diff against the config in force: %v", res.Plan)
	}
	res = f.result(t, "/v1/diff?file=/x/c.yaml", configYAML(srv, 3))
	if len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Resize {
		t.Errorf("diff of a resize: %v", res.Plan)
	}
}

func TestApplyReportsFailedTargets(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	srv.Close() // the port is closed now
	res := f.result(t, "/v1/apply", configYAML(srv, 1))
	if !res.Failed() || len(res.Outcomes) != 1 || !strings.Contains(res.Outcomes[0].Error, "refused") {
		t.Errorf("apply to a closed port: %+v", res)
	}
}

// result posts body to path and decodes the ApplyResult.
func (f *fixture) result(t *testing.T, path, body string) admin.ApplyResult {
	t.Helper()
	code, body := f.do(t, "POST", path, body)
	var res admin.ApplyResult
	if err := json.Unmarshal([]byte(body), &res); code != http.StatusOK || err != nil {
		t.Fatalf("%d %v\n%s", code, err, body)
	}
	return res
}

func TestApplyInvalidConfigChangesNothing(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	if code, body := f.do(t, "POST", "/v1/apply", configYAML(srv, 2)); code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	before := f.m.Status()
	bad := "version: 1\ntargets:\n  cache:\n    host: 127.0.0.1\n    port: 70000\n    pool: {size: 0}\n  other: 3\n"
	// A dry run and a diff change nothing at all; an apply records the
	// rejection and changes nothing else.
	for _, path := range []string{"/v1/apply?dry_run=1&file=/etc/fm/bad.yaml", "/v1/diff?file=/etc/fm/bad.yaml", "/v1/apply?file=/etc/fm/bad.yaml"} {
		code, body := f.do(t, "POST", path, bad)
		var er admin.ErrorReply
		if err := json.Unmarshal([]byte(body), &er); code != http.StatusBadRequest || err != nil {
			t.Fatalf("%s: %d %v %s", path, code, err, body)
		}
		want := []string{
			`/etc/fm/bad.yaml:5:11: target "cache": port: 70000 is out of range`,
			`/etc/fm/bad.yaml:6:18: target "cache": pool.size: 0 is out of range`,
			`/etc/fm/bad.yaml:7:10: target "other": is a scalar`,
		}
		if len(er.Errors) != len(want) {
			t.Fatalf("%s: errors %q, want %d", path, er.Errors, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(er.Errors[i], w) {
				t.Errorf("%s: error %d = %q, want prefix %q", path, i, er.Errors[i], w)
			}
		}
		after := f.m.Status()
		if after.Generation != before.Generation || len(after.Targets) != 1 || after.Targets[0].Desired != 2 {
			t.Errorf("%s: a rejected configuration changed the targets:\nbefore %+v\nafter  %+v", path, before, after)
		}
		dry := !strings.Contains(path, "apply?file")
		if recorded := after.LastReload.Result == manager.ReloadRejected; recorded == dry {
			t.Errorf("%s: last reload %+v", path, after.LastReload)
		}
		if !dry && (after.LastReload.Source != "/etc/fm/bad.yaml" || len(after.LastReload.Errors) != len(want)) {
			t.Errorf("%s: rejection recorded as %+v", path, after.LastReload)
		}
	}
}

func TestApplyRefusesRelativeFileName(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	code, body := f.do(t, "POST", "/v1/apply?file=conf/c.yaml", configYAML(srv, 1))
	if code != http.StatusBadRequest || !strings.Contains(body, "absolute") {
		t.Errorf("%d %s", code, body)
	}
	if len(f.m.Status().Targets) != 0 {
		t.Error("the configuration was applied")
	}
}

func TestBodyTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
	}{{"default", 0}, {"set", 1 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, admin.Options{MaxBodyBytes: tc.limit}, nil)
			limit := cmpOr(tc.limit, admin.DefaultMaxBodyBytes)
			// A comment: valid YAML whatever its size, so only the size is at fault.
			body := func(n int64) string { return "#" + strings.Repeat("x", int(n)) + "\nversion: 1\ntargets: {}\n" }
			for _, path := range []string{"/v1/apply", "/v1/diff"} {
				code, reply := f.do(t, "POST", path, body(limit))
				if code != http.StatusRequestEntityTooLarge || !strings.Contains(reply, "larger than") {
					t.Errorf("%s: %d %s", path, code, reply)
				}
			}
			// A body just under the limit is read whole and parsed: it
			// starts with a byte no configuration may hold, so the parse
			// ends there, and the test does not wait on parsing 4 MiB
			// (seconds under -race on a loaded machine).
			under := "\x00" + body(limit - 100)[1:]
			code, reply := f.do(t, "POST", "/v1/apply", under)
			if code != http.StatusBadRequest || !strings.Contains(reply, "1:1: control character U+0000") {
				t.Errorf("a body under the limit: %d %s", code, reply)
			}
		})
	}
}

func cmpOr(a, b int64) int64 {
	if a != 0 {
		return a
	}
	return b
}

func TestRequireToken(t *testing.T) {
	const token = "s3cret-token-value"
	f := newFixture(t, admin.Options{}, func(h http.Handler) http.Handler { return admin.RequireToken(token, h) })
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "Bearer nope", http.StatusUnauthorized},
		{"prefix", "Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		{"longer", "Bearer " + token + "x", http.StatusUnauthorized},
		{"scheme", "Basic " + token, http.StatusUnauthorized},
		{"bare", token, http.StatusUnauthorized},
		{"no token", "Bearer", http.StatusUnauthorized},
		{"glued", "Bearer" + token, http.StatusUnauthorized},
		{"right", "Bearer " + token, http.StatusOK},
		{"scheme in lower case", "bearer " + token, http.StatusOK},
		{"scheme in upper case", "BEARER " + token, http.StatusOK},
		{"two spaces", "Bearer  " + token, http.StatusOK},
	} {
		var hdr []string
		if tc.auth != "" {
			hdr = []string{"Authorization", tc.auth}
		}
		code, body := f.do(t, "GET", "/v1/status", "", hdr...)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
		if code == http.StatusUnauthorized && strings.Contains(body, token) {
			t.Errorf("%s: the reply holds the token", tc.name)
		}
	}
	// Requests refused before they reach the API change nothing.
	if code, _ := f.do(t, "POST", "/v1/apply", "version: 1\ntargets: {}\n", "Authorization", "Bearer x"); code != http.StatusUnauthorized {
		t.Errorf("apply without the token: %d", code)
	}
	if f.m.Config() != nil {
		t.Error("an apply without the token was applied")
	}
}

func TestRequireEmptyTokenRefusesAll(t *testing.T) {
	f := newFixture(t, admin.Options{}, func(h http.Handler) http.Handler { return admin.RequireToken("", h) })
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		if code, _ := f.do(t, "GET", "/v1/status", "", "Authorization", auth); code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", auth, code)
		}
	}
}

func TestHandleAddsRoutes(t *testing.T) {
	f := newFixture(t, admin.Options{}, nil)
	f.api.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("up 1\n"))
	}))
	if code, body := f.do(t, "GET", "/metrics", ""); code != http.StatusOK || body != "up 1\n" {
		t.Errorf("GET /metrics: %d %q", code, body)
	}
}

func TestEventsHistoryAndFollow(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	if code, body := f.do(t, "POST", "/v1/apply", configYAML(srv, 1)); code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	// The apply's events are in the history once it is answered.
	_, body := f.do(t, "GET", "/v1/events", "")
	history := decodeEvents(t, body)
	for _, want := range []manager.EventType{manager.EventTargetCreated, manager.EventConfigApplied} {
		if !slices.ContainsFunc(history, func(e manager.Event) bool { return e.Type == want }) {
			t.Errorf("no %s in %+v", want, history)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.url+"/v1/events?follow=1", nil)
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() manager.Event {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("the stream ended: %v", sc.Err())
		}
		var e manager.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	if e := next(); e.Type != history[0].Type || !e.Time.Equal(history[0].Time) {
		t.Errorf("the stream starts with %+v, want the history's first event %+v", e, history[0])
	}
	if code, body := f.do(t, "POST", "/v1/apply", configYAML(srv, 3)); code != http.StatusOK {
		t.Fatalf("apply: %d %s", code, body)
	}
	var live []manager.EventType
	for e := next(); e.Type != manager.EventConfigApplied || e.Generation != 2; e = next() {
		if e.Generation == 2 {
			live = append(live, e.Type)
		}
	}
	if len(live) == 0 || live[0] != manager.EventTargetResized {
		t.Errorf("live events %v, want target.resized first", live)
	}

	f.api.Close() // ends the stream
	for sc.Scan() {
	}
	if err := sc.Err(); err != nil {
		t.Errorf("stream after Close: %v", err)
	}
}

func decodeEvents(t *testing.T, body string) []manager.Event {
	t.Helper()
	var evs []manager.Event
	for line := range strings.Lines(body) {
		var e manager.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		evs = append(evs, e)
	}
	return evs
}

func TestEventsHistoryIsBounded(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{History: 3}, nil)
	for size := range 3 {
		if code, body := f.do(t, "POST", "/v1/apply", configYAML(srv, size+1)); code != http.StatusOK {
			t.Fatalf("apply: %d %s", code, body)
		}
	}
	var evs []manager.Event
	waitFor(t, "the third apply's events", func() bool {
		_, body := f.do(t, "GET", "/v1/events", "")
		evs = decodeEvents(t, body)
		return slices.ContainsFunc(evs, func(e manager.Event) bool { return e.Generation == 3 })
	})
	if len(evs) != 3 {
		t.Errorf("history of %d events, want the last 3: %v", len(evs), evs)
	}
}
