package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/manager"
)

func TestPlaintextPasswords(t *testing.T) {
	doc := `version: 1
defaults:
  password: literal-default
targets:
  a: {host: h, password: "${PW}"}
  b:
    host: h
    password: ${A}${B:-x}
  c:
    host: h
    password: "pre-${PW}"
  d: {host: h, password: ""}
  e: {host: h, password_file: secret.txt}
`
	if got, want := plaintextPasswords([]byte(doc)), []int{3, 11}; !slices.Equal(got, want) {
		t.Errorf("plaintext passwords on lines %v, want %v", got, want)
	}
	if got := plaintextPasswords([]byte("a: [unclosed")); got != nil {
		t.Errorf("a document that does not parse: %v", got)
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s ago"}, {-time.Second, "just now"}, {42 * time.Second, "42s ago"},
		{3*time.Minute + 7*time.Second, "3m07s ago"}, {26*time.Hour + 5*time.Minute, "26h05m ago"},
	} {
		if got := ago(now, now.Add(-tc.d)); got != tc.want {
			t.Errorf("ago(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := ago(now, time.Time{}); got != "-" {
		t.Errorf("ago(zero) = %q", got)
	}
}

func TestWriteYAMLKeepsOrderAndQuotes(t *testing.T) {
	var b bytes.Buffer
	if err := writeYAML(&b, []byte(`{"z":1,"a":{"t":"2026-01-02T15:00:00Z","n":"007","s":"x y"},"l":[true,null]}`)); err != nil {
		t.Fatal(err)
	}
	want := "z: 1\na:\n  t: \"2026-01-02T15:00:00Z\"\n  n: \"007\"\n  s: x y\nl:\n  - true\n  - null\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestStatusTableAndHeader(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	st := manager.Status{
		Generation: 4, Source: "/etc/f.yaml", Watching: "/etc/f.yaml", Hash: "0123456789abcdef0123",
		LastReload: &manager.Reload{Time: now.Add(-5 * time.Second), Result: manager.ReloadRejected,
			Errors: []string{"/etc/f.yaml:3:5: target \"a\": port: 0 is out of range"}},
		Targets: []manager.TargetStatus{{
			Name: "a", LastChange: now.Add(-time.Minute),
			Stats: fleare.Stats{Addr: "10.0.0.1:9219", State: fleare.StateError, Open: 1, Desired: 4, InUse: 1, Waiting: 2,
				Requests: 10, Errors: 3, LastError: "dial: refused", LastErrorTime: now},
			Pending: &manager.PendingPool{Stats: fleare.Stats{Addr: "10.0.0.2:9219", State: fleare.StateConnecting, Desired: 4}},
		}},
		Draining: []manager.DrainingPool{{Target: "a", Endpoint: "10.0.0.0:9219", Why: "replaced", InUse: 1}},
	}
	var b bytes.Buffer
	if err := printStatus(&b, st, "table", now, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Config:      /etc/f.yaml (watched: the file is the source of truth; apply needs --force)\n",
		"Generation:  4\n",
		"Hash:        0123456789abcdef0123\n",
		"Last reload: rejected at ",
		"The configuration in force is kept. Problems:\n  /etc/f.yaml:3:5: target \"a\": port: 0 is out of range\n",
		"NAME  ENDPOINT       STATE  POOL  IN-USE  WAITING  REQUESTS  ERRORS  LAST-CHANGE\n",
		"a     10.0.0.1:9219  error  1/4   1       2        10        3       1m00s ago\n",
		"a → 10.0.0.2:9219: connecting, 0/4 open",
		"a 10.0.0.0:9219 (replaced), 1 in use",
		"a: dial: refused (0s ago)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}

	// A forced apply over a watched file, and no file at all, say which
	// source wins.
	b.Reset()
	st.Source, st.LastReload = manager.SourceAPI, nil
	if err := printStatus(&b, st, "table", now, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Config:      applied through the admin API with --force\n",
		"Watching:    /etc/f.yaml (the file wins: its next change, SIGHUP or a restart applies it)\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status after a forced apply lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	st.Watching = ""
	if err := printStatus(&b, st, "table", now, false); err != nil {
		t.Fatal(err)
	}
	if want := "Config:      applied through the admin API (not kept across a restart)\n"; !strings.Contains(b.String(), want) ||
		strings.Contains(b.String(), "Watching:") {
		t.Errorf("status with no file lacks %q:\n%s", want, b.String())
	}
	b.Reset()
	st.Source, st.LastReload = "", &manager.Reload{Time: now, Result: manager.ReloadRejected, Errors: []string{"x"}}
	if err := printStatus(&b, st, "table", now, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No configuration is in force. Problems:") {
		t.Errorf("a first file rejected:\n%s", b.String())
	}
}

// With target names, status shows those targets alone, and says which
// names are not configured, with the nearest one.
func TestSelectTargets(t *testing.T) {
	st := manager.Status{Generation: 2,
		Targets:  []manager.TargetStatus{{Name: "cache"}, {Name: "sessions"}},
		Draining: []manager.DrainingPool{{Target: "cache"}, {Target: "sessions"}}}
	got, err := selectTargets(st, []string{"sessions"})
	if err != nil || len(got.Targets) != 1 || got.Targets[0].Name != "sessions" || len(got.Draining) != 1 || got.Generation != 2 {
		t.Errorf("select sessions: %v %+v", err, got)
	}
	_, err = selectTargets(st, []string{"cahce"})
	if exitCode(err) != 1 || !strings.Contains(err.Error(), `no target "cahce"`) ||
		!strings.Contains(err.Error(), `did you mean "cache"?`) || !strings.Contains(err.Error(), "targets: cache, sessions") {
		t.Errorf("an unknown name: %v", err)
	}
	if got, err := selectTargets(st, nil); err != nil || len(got.Targets) != 2 {
		t.Errorf("no names: %v %+v", err, got)
	}
	if err := checkTargets(manager.Status{Targets: []manager.TargetStatus{{Name: "a", Stats: fleare.Stats{State: fleare.StateError}},
		{Name: "b", Stats: fleare.Stats{State: fleare.StateConnected}}}}); exitCode(err) != 1 || !strings.Contains(err.Error(), "state error: a") {
		t.Errorf("check with a target in error: %v", err)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("boom"), 1},
		{&exitError{code: 1}, 1},
		{&exitError{code: 2, err: errors.New("x")}, 2},
		{usagef("bad flag"), 2},
		{fmt.Errorf("wrapped: %w", &admin.UnreachableError{Endpoint: "s", Err: errors.New("refused")}), 2},
		{&admin.APIError{StatusCode: 400, Message: "rejected", Errors: []string{"f:1:1: x"}}, 1},
		{&admin.APIError{StatusCode: 401, Message: "token"}, 2},
		{&admin.APIError{StatusCode: 413, Message: "too large"}, 2},
		{&admin.APIError{StatusCode: 409, Message: "the file wins"}, 1},
		{&admin.APIError{StatusCode: 412, Message: "stale"}, 1},
	} {
		var b bytes.Buffer
		if got := report(&b, tc.err); got != tc.want {
			t.Errorf("report(%v) = %d, want %d", tc.err, got, tc.want)
		}
		if tc.err == nil && b.Len() > 0 {
			t.Errorf("report(nil) printed %q", b.String())
		}
	}
	var b bytes.Buffer
	report(&b, &admin.APIError{StatusCode: 400, Message: "rejected (1 problem(s))", Errors: []string{"f.yaml:1:2: bad"}})
	if b.String() != "flearectl: rejected (1 problem(s))\nf.yaml:1:2: bad\n" {
		t.Errorf("a rejected configuration is reported as %q", b.String())
	}
}

func TestClockSkew(t *testing.T) {
	start := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	end := start.Add(time.Second)
	if got := clockSkew(start.Add(2*time.Second), start, end); got != 1500*time.Millisecond {
		t.Errorf("skew = %v, want 1.5s (the server's time against the middle of the round trip)", got)
	}
	if got := clockSkew(time.Time{}, start, end); got != 0 {
		t.Errorf("skew without a server time = %v", got)
	}
}

// Targets with a listen section get a row in the proxies table, in text,
// and a "proxy" object in JSON.
func TestStatusProxies(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	st := manager.Status{Targets: []manager.TargetStatus{
		{Name: "a", Stats: fleare.Stats{Addr: "10.0.0.1:9219"}, Proxy: &manager.ProxyStatus{
			Address: "127.0.0.1:0", Listening: "127.0.0.1:7219", Clients: 3, Requests: 120, Errors: 2, AuthFailures: 4, LimitHits: 1,
			Dropped: manager.ProxyDrops{ReadTimeout: 1, WriteTimeout: 1}}},
		{Name: "b", Stats: fleare.Stats{Addr: "10.0.0.2:9219"}, Proxy: &manager.ProxyStatus{
			Address: "127.0.0.1:7220", ListenError: "proxy: listen: address already in use"}},
		{Name: "c", Stats: fleare.Stats{Addr: "10.0.0.3:9219"}},
	}}
	var b bytes.Buffer
	if err := printStatus(&b, st, "table", now, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Proxies (apps connect here):\n",
		"  NAME  LISTEN                          CLIENTS  REQUESTS  ERRORS  AUTH-FAILURES  LIMIT-HITS  DROPPED\n",
		"  a     127.0.0.1:7219                  3        120       2       4              1           2\n",
		"  b     127.0.0.1:7220 (not listening)  0        0         0       0              0           0\n",
		"  b: cannot listen on 127.0.0.1:7220: proxy: listen: address already in use\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := printStatus(&b, st, "json", now, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"proxy": {`, `"listening": "127.0.0.1:7219"`, `"auth_failures": 4`, `"limit_hits": 1`, `"read_timeout": 1`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON status lacks %s:\n%s", want, b.String())
		}
	}
	var back manager.Status
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Targets[0].Proxy == nil || *back.Targets[0].Proxy != *st.Targets[0].Proxy || back.Targets[2].Proxy != nil {
		t.Errorf("JSON round trip: %+v", back.Targets)
	}
}
