package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	cfg := mustParse(t, "version: 1\ntargets:\n  a:\n    host: h\n", nil, nil)
	want := Target{
		Name: "a", Host: "h", Port: DefaultPort,
		Pool:     Pool{Size: DefaultPoolSize, MaxQueue: DefaultMaxQueue, Pipeline: DefaultPipeline, HealthCheckInterval: DefaultHealthCheckInterval},
		Timeouts: Timeouts{Connect: DefaultConnectTimeout, Request: DefaultRequestTimeout, Drain: DefaultDrainTimeout},
		Retry:    Retry{MaxRetries: DefaultMaxRetries, Interval: DefaultRetryInterval},
	}
	if cfg.Version != 1 || len(cfg.Targets) != 1 || cfg.Targets[0] != want {
		t.Fatalf("got %+v\nwant %+v", cfg, want)
	}
}

func TestParseMerge(t *testing.T) {
	const src = `version: 1
defaults:
  port: 1000
  username: app
  password: default-pw
  pool: {size: 4, max_queue: 7}
  timeouts: {connect: 5s, request: 2s}
  retry: {max_retries: 9, interval: 1s}
targets:
  zeta:
    host: 10.0.0.1
    pool: {size: 8}          # max_queue still from defaults
    timeouts: {drain: 0s}    # zero drain is allowed
  alpha:
    host: ::1
    port: 2000
    username: root
    password_file: secrets/alpha
  mid:
    host: m
    password: ""             # no credentials at all
    username: ""
`
	cfg := mustParse(t, src, nil, map[string]string{"secrets/alpha": "pw\n"})
	if len(cfg.Targets) != 3 || cfg.Targets[0].Name != "alpha" || cfg.Targets[1].Name != "mid" || cfg.Targets[2].Name != "zeta" {
		t.Fatalf("targets not sorted by name: %+v", cfg.Targets)
	}
	alpha, mid, zeta := cfg.Targets[0], cfg.Targets[1], cfg.Targets[2]
	wantZeta := Target{
		Name: "zeta", Host: "10.0.0.1", Port: 1000, Username: "app", Password: NewSecret("default-pw"),
		Pool:     Pool{Size: 8, MaxQueue: 7, Pipeline: DefaultPipeline, HealthCheckInterval: DefaultHealthCheckInterval},
		Timeouts: Timeouts{Connect: 5 * time.Second, Request: 2 * time.Second, Drain: 0},
		Retry:    Retry{MaxRetries: 9, Interval: time.Second},
	}
	if zeta != wantZeta {
		t.Errorf("zeta:\n got  %+v\n want %+v", zeta, wantZeta)
	}
	// password_file in the target replaces the default password.
	if !alpha.Password.IsZero() || alpha.PasswordFile != filepath.Join(testDir, "secrets", "alpha") ||
		alpha.Username != "root" || alpha.Port != 2000 || alpha.Pool != (Pool{Size: 4, MaxQueue: 7, Pipeline: DefaultPipeline, HealthCheckInterval: DefaultHealthCheckInterval}) {
		t.Errorf("alpha: %+v", alpha)
	}
	if alpha.Addr() != "[::1]:2000" {
		t.Errorf("alpha.Addr() = %q", alpha.Addr())
	}
	if !mid.Password.IsZero() || mid.PasswordFile != "" || mid.Username != "" {
		t.Errorf("mid: %+v", mid)
	}
	if got, ok := cfg.Lookup("mid"); !ok || got != mid {
		t.Errorf("Lookup(mid) = %+v, %v", got, ok)
	}
	if _, ok := cfg.Lookup("nope"); ok {
		t.Errorf("Lookup(nope) found a target")
	}
}

func TestParseCredentialsFromDefaults(t *testing.T) {
	const src = `version: 1
defaults:
  username: app
  password_file: /run/secrets/fleare
targets:
  a: {host: h}
  b: {host: h, password: inline}
`
	cfg := mustParse(t, src, nil, map[string]string{"../../run/secrets/fleare": "pw"})
	a, b := cfg.Targets[0], cfg.Targets[1]
	if a.PasswordFile != filepath.FromSlash("/run/secrets/fleare") || !a.Password.IsZero() {
		t.Errorf("a: %+v", a)
	}
	if b.PasswordFile != "" || b.Password.Reveal() != "inline" || b.Username != "app" {
		t.Errorf("b: %+v", b)
	}
}

func TestParseEmptyTargets(t *testing.T) {
	cfg := mustParse(t, "version: 1\ntargets: {}\n", nil, nil)
	if len(cfg.Targets) != 0 {
		t.Errorf("targets: %+v, want none", cfg.Targets)
	}
}

func TestParseVariables(t *testing.T) {
	const src = `version: 1
targets:
  a:
    host: ${HOST}
    port: ${PORT}
    username: ${USER:-guest}
    password: "p$$ss-${SUFFIX}"
    timeouts: {connect: "${CONNECT:-5s}", request: "${EMPTY:-7s}"}
    pool:
      size: ${SIZE:-3}
`
	env := map[string]string{"HOST": "h.example", "PORT": "1234", "SUFFIX": "x:{y}", "EMPTY": ""}
	cfg := mustParse(t, src, env, nil)
	a := cfg.Targets[0]
	if a.Host != "h.example" || a.Port != 1234 || a.Username != "guest" || a.Password.Reveal() != "p$ss-x:{y}" ||
		a.Timeouts.Connect != 5*time.Second || a.Timeouts.Request != 7*time.Second || a.Pool.Size != 3 {
		t.Errorf("got %+v (password %q)", a, a.Password.Reveal())
	}
}

func TestParseValueCannotInjectYAML(t *testing.T) {
	env := map[string]string{"HOST": "h\n    port: 1\n  evil:\n    host: x"}
	_, err := testParser(env, nil).Parse(testName, []byte("version: 1\ntargets:\n  a:\n    host: ${HOST}\n"))
	errs := Errors(err)
	if len(errs) != 1 || errs[0].Field != "host" || errs[0].Line != 4 {
		t.Fatalf("got %v, want one error about host at line 4", err)
	}
}

func TestParseKeysNotExpanded(t *testing.T) {
	_, err := testParser(map[string]string{"N": "ok"}, nil).Parse(testName, []byte("version: 1\ntargets:\n  ${N}:\n    host: h\n"))
	if errs := Errors(err); len(errs) != 1 || errs[0].Target != "${N}" {
		t.Fatalf("got %v, want an invalid-name error for ${N}", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(dir, "secrets", "a")
	if err := os.WriteFile(pwFile, []byte("first\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	src := "version: 1\ntargets:\n  a: {host: h, username: u, password_file: secrets/a}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Targets[0]
	if a.PasswordFile != pwFile || !a.Password.IsZero() {
		t.Fatalf("target: %+v", a)
	}
	pw, err := a.ResolvePassword()
	if err != nil || pw.Reveal() != "first" {
		t.Fatalf("ResolvePassword = %q, %v; want first", pw.Reveal(), err)
	}
	// A rotated secret is read at the next resolve, without a reload.
	if err := os.WriteFile(pwFile, []byte("second \n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if pw, err = a.ResolvePassword(); err != nil || pw.Reveal() != "second " {
		t.Fatalf("after rotation ResolvePassword = %q, %v; want %q", pw.Reveal(), err, "second ")
	}
	if err := os.WriteFile(pwFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err = a.ResolvePassword(); err == nil {
		t.Errorf("ResolvePassword of an empty file succeeded")
	}
	if err := os.Remove(pwFile); err != nil {
		t.Fatal(err)
	}
	if _, err = a.ResolvePassword(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ResolvePassword of a missing file: %v, want a not-exist error", err)
	}
	// Load now reports the missing file at its place.
	if _, err := Load(path); len(Errors(err)) != 1 || Errors(err)[0].Line != 3 {
		t.Errorf("Load with the password file gone: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || Errors(err) != nil {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func TestResolvePasswordInline(t *testing.T) {
	pw, err := Target{Password: NewSecret("x")}.ResolvePassword()
	if err != nil || pw.Reveal() != "x" {
		t.Fatalf("got %q, %v", pw.Reveal(), err)
	}
}

func TestReadCappedRefusesLargeFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, make([]byte, MaxPasswordFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (Target{Name: "a", PasswordFile: path}).ResolvePassword(); err == nil {
		t.Fatal("ResolvePassword read a file larger than MaxPasswordFileSize")
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"port", "port", 0}, {"prot", "port", 1}, {"pot", "port", 1},
		{"size", "sise", 1}, {"kitten", "sitting", 3}, {"", "abc", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestFieldTablesFit(t *testing.T) {
	var check func(fields []field)
	check = func(fields []field) {
		if len(fields) > maxFields {
			t.Errorf("a map has %d keys, more than maxFields", len(fields))
		}
		for _, f := range fields {
			check(f.children)
		}
	}
	check(targetFields)
}
