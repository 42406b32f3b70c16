package spec

import (
	"strings"
	"testing"
)

func TestMarshalRoundTrip(t *testing.T) {
	const src = `version: 1
defaults:
  username: "u$$er"
  pool: {max_queue: 0}
  timeouts: {request: 1500ms, drain: 0s}
targets:
  b:
    host: "::1"
    port: 1
    password_file: pw
  a:
    host: h.example
    username: ""
    retry: {max_retries: 0, interval: 1h}
  "007":
    host: 10.0.0.7
`
	files := map[string]string{"pw": "x"}
	cfg := mustParse(t, src, nil, files)
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	again := mustParse(t, string(out), nil, files)
	if len(again.Targets) != len(cfg.Targets) {
		t.Fatalf("round trip lost targets:\n%s", out)
	}
	for i := range cfg.Targets {
		if again.Targets[i] != cfg.Targets[i] {
			t.Errorf("round trip changed a target:\n got  %+v\n want %+v\nvia\n%s", again.Targets[i], cfg.Targets[i], out)
		}
	}
	const wantB = `  b:
    host: ::1
    port: 1
    username: u$$er
    password_file: /etc/fleare-manager/pw
    pool:
      size: 10
      max_queue: 0
      pipeline: 32
      health_check_interval: 1s
      max_lifetime: 0s
      lifetime_jitter: 0s
    timeouts:
      connect: 30s
      request: 1.5s
      drain: 0s
    retry:
      max_retries: 3
      interval: 10s
`
	if !strings.HasPrefix(string(out), "version: 1\ntargets:\n  \"007\":\n") || !strings.HasSuffix(string(out), wantB) {
		t.Errorf("Marshal output:\n%s", out)
	}
}

func TestMarshalEmpty(t *testing.T) {
	out, err := Marshal(&Config{Version: Version})
	if err != nil || string(out) != "version: 1\ntargets: {}\n" {
		t.Fatalf("Marshal of no targets: %q, %v", out, err)
	}
	if cfg := mustParse(t, string(out), nil, nil); len(cfg.Targets) != 0 {
		t.Fatalf("round trip: %+v", cfg)
	}
}
