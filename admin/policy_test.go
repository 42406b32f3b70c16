package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/manager"
)

// While the manager watches a file, an apply is refused with 409 before
// its body is even parsed (so a bad one is not recorded either); a dry run
// is answered; a forced apply goes through.
func TestApplyRefusedWhileAFileIsWatched(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	if err := os.WriteFile(path, []byte(configYAML(srv, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.m.WatchFile(ctx, path); err != nil {
		t.Fatal(err)
	}
	before := f.m.Status()

	for _, body := range []string{configYAML(srv, 2), "version: 7\n"} {
		r := f.send(t, "POST", "/v1/apply?file=/x/c.yaml", body)
		if r.code != http.StatusConflict || !strings.Contains(r.body, path) || !strings.Contains(r.body, "force") {
			t.Errorf("apply while a file is watched: %d %s", r.code, r.body)
		}
	}
	if st := f.m.Status(); st.Reloads != before.Reloads || st.Targets[0].Desired != 1 {
		t.Fatalf("a refused apply changed or recorded something: %+v", st)
	}
	if r := f.send(t, "POST", "/v1/apply?dry_run=1&file=/x/c.yaml", configYAML(srv, 2)); r.code != http.StatusOK {
		t.Errorf("dry run while a file is watched: %d %s", r.code, r.body)
	}
	if r := f.send(t, "POST", "/v1/diff?file=/x/c.yaml", configYAML(srv, 2)); r.code != http.StatusOK {
		t.Errorf("diff while a file is watched: %d %s", r.code, r.body)
	}

	c := admin.NewClient(admin.ClientOptions{Addr: strings.TrimPrefix(f.url, "http://")})
	defer c.Close()
	_, err := c.Apply(context.Background(), "/x/c.yaml", []byte(configYAML(srv, 2)), false)
	if ae := (*admin.APIError)(nil); !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict {
		t.Errorf("client apply while a file is watched: %v", err)
	}
	res, err := c.ApplyWith(context.Background(), "/x/c.yaml", []byte(configYAML(srv, 2)), admin.ApplyOptions{Force: true})
	if err != nil || res.Generation != 2 {
		t.Fatalf("forced apply: %v %+v", err, res)
	}
	if st := f.m.Status(); st.Source != manager.SourceAPI || st.Watching != path || st.Targets[0].Desired != 2 {
		t.Errorf("status after a forced apply: %+v", st)
	}
}

// An apply with a precondition that no longer holds gets 412 with the
// hash in force as its ETag; GET /v1/status and /v1/config give the ETag.
func TestApplyPreconditionsOverHTTP(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	first := configYAML(srv, 1)
	if r := f.send(t, "POST", "/v1/apply?expect_generation=0&file=/x/c.yaml", first, "If-Match", ""); r.code != http.StatusOK {
		t.Fatalf("first apply expecting generation 0: %d %s", r.code, r.body)
	}
	sum := sha256.Sum256([]byte(first))
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	for _, path := range []string{"/v1/status", "/v1/config"} {
		if r := f.send(t, "GET", path, ""); r.header.Get("ETag") != etag {
			t.Errorf("GET %s: ETag %q, want %q", path, r.header.Get("ETag"), etag)
		}
	}

	second := configYAML(srv, 2)
	for _, stale := range [][]string{
		{"/v1/apply?expect_generation=0&file=/x/c.yaml"},
		{"/v1/apply?file=/x/c.yaml", "If-Match", `"0123abcd"`},
	} {
		r := f.send(t, "POST", stale[0], second, stale[1:]...)
		if r.code != http.StatusPreconditionFailed || r.header.Get("ETag") != etag || !strings.Contains(r.body, "nothing changed") {
			t.Errorf("stale apply %q: %d %v %s", stale, r.code, r.header, r.body)
		}
	}
	// Refused before the body is parsed: a bad one is not recorded.
	if r := f.send(t, "POST", "/v1/apply?expect_generation=0&file=/x/c.yaml", "version: 7\n"); r.code != http.StatusPreconditionFailed {
		t.Errorf("stale apply of a bad file: %d %s", r.code, r.body)
	}
	if st := f.m.Status(); st.Generation != 1 || st.Targets[0].Desired != 1 || st.Reloads.Rejected != 0 {
		t.Fatalf("a stale apply changed or recorded something: %+v", st)
	}
	for _, bad := range [][]string{
		{"/v1/apply?expect_generation=soon&file=/x/c.yaml"},
		{"/v1/apply?file=/x/c.yaml", "If-Match", `"a", "b"`},
	} {
		if r := f.send(t, "POST", bad[0], second, bad[1:]...); r.code != http.StatusBadRequest {
			t.Errorf("malformed precondition %q: %d %s", bad, r.code, r.body)
		}
	}
	r := f.send(t, "POST", "/v1/apply?expect_generation=1&file=/x/c.yaml", second, "If-Match", etag)
	if r.code != http.StatusOK {
		t.Fatalf("fresh apply: %d %s", r.code, r.body)
	}

	c := admin.NewClient(admin.ClientOptions{Addr: strings.TrimPrefix(f.url, "http://")})
	defer c.Close()
	one := uint64(1)
	_, err := c.ApplyWith(context.Background(), "/x/c.yaml", []byte(first), admin.ApplyOptions{ExpectGeneration: &one})
	ae := (*admin.APIError)(nil)
	sum = sha256.Sum256([]byte(second))
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusPreconditionFailed || ae.Hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("client apply expecting a stale generation: %v", err)
	}
	if _, err := c.ApplyWith(context.Background(), "/x/c.yaml", []byte(first), admin.ApplyOptions{IfMatch: ae.Hash}); err != nil {
		t.Fatalf("client apply with the hash in force: %v", err)
	}
}

// The apply reply follows the JSON conventions: a format version, and
// durations as strings; the Go client reads them back.
func TestApplyReplyConventions(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	r := f.send(t, "POST", "/v1/apply?file=/x/c.yaml", configYAML(srv, 1))
	var raw struct {
		FormatVersion int `json:"format_version"`
		Outcomes      []struct {
			Took any `json:"took"`
		} `json:"outcomes"`
	}
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil || raw.FormatVersion != manager.FormatVersion || len(raw.Outcomes) != 1 {
		t.Fatalf("apply reply: %v %s", err, r.body)
	}
	took, ok := raw.Outcomes[0].Took.(string)
	if d, err := time.ParseDuration(took); !ok || err != nil || d <= 0 {
		t.Errorf("took = %#v, want a duration string", raw.Outcomes[0].Took)
	}
	var res admin.ApplyResult
	if err := json.Unmarshal([]byte(r.body), &res); err != nil || res.Outcomes[0].Took <= 0 || res.FormatVersion != manager.FormatVersion {
		t.Errorf("ApplyResult: %v %+v", err, res)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(f.send(t, "GET", "/v1/status", "").body), &st); err != nil || st["format_version"] != float64(manager.FormatVersion) {
		t.Errorf("status: %v %v", err, st)
	}
}

// A configuration sent from standard input is named <stdin> in errors.
func TestApplyFromStdinIsNamed(t *testing.T) {
	f := newFixture(t, admin.Options{}, nil)
	r := f.send(t, "POST", "/v1/diff?file=-", "version: 1\ntargets:\n  a: {port: 0}\n")
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "<stdin>:3:") {
		t.Errorf("diff of a bad configuration from stdin: %d %s", r.code, r.body)
	}
}
