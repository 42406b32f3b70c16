package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

const examplesDir = "../../examples/configs"

func TestValidateExamples(t *testing.T) {
	dir := shortDir(t)
	// As spec's tests load them: FLEARE_PASSWORD set, nothing else.
	env := baseEnv(dir, "FLEARE_PASSWORD=example-password")
	paths, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(paths) < 3 {
		t.Fatalf("examples: %v %v", paths, err)
	}
	var names []string
	for _, path := range paths {
		name := filepath.Base(path)
		names = append(names, "-f", name)
		t.Run(name, func(t *testing.T) {
			r := flearectl(t, env, examplesDir, "validate", "-f", name)
			if !strings.HasPrefix(name, "bad-") {
				if r.code != 0 || !strings.HasPrefix(r.stdout, name+": ok (") {
					t.Errorf("a good example: %v", r)
				}
				return
			}
			golden, err := os.ReadFile(strings.TrimSuffix(path, ".yaml") + ".errors")
			if err != nil {
				t.Fatal(err)
			}
			if r.code != 1 || r.stdout != string(golden) {
				t.Errorf("want exit 1 and the errors of %s.errors:\n%s\ngot %v", strings.TrimSuffix(name, ".yaml"), golden, r)
			}
		})
	}
	r := flearectl(t, env, examplesDir, append([]string{"validate"}, names...)...)
	bad := 0
	for _, n := range names {
		if strings.HasPrefix(n, "bad-") {
			bad++
		}
	}
	if want := fmt.Sprintf("%d of %d file(s) invalid", bad, len(paths)); r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("validate of every example: want exit 1 and %q, got %v", want, r)
	}
	if r := flearectl(t, env, examplesDir, "validate", "-f", "minimal.yaml", "-f", "multi-target.yaml"); r.code != 0 ||
		r.stdout != "minimal.yaml: ok (1 target)\nmulti-target.yaml: ok (4 targets)\n" {
		t.Errorf("validate of the good examples: %v", r)
	}
	if r := flearectl(t, env, examplesDir, "validate", "-f", "missing.yaml"); r.code != 1 ||
		!strings.Contains(r.stdout, "missing.yaml: cannot read: no such file or directory") {
		t.Errorf("validate of a missing file: %v", r)
	}
	expect(t, 2, env, "validate")
}

func TestCheck(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	down := closedPort(t)
	cfg := filepath.Join(dir, "fleare.yaml")
	data := fmt.Sprintf(`version: 1
defaults: {username: %s, password_file: password, timeouts: {connect: 2s}}
targets:
  up-1: {host: 127.0.0.1, port: %[2]d}
  up-2: {host: 127.0.0.1, port: %[2]d}
  down: {host: 127.0.0.1, port: %[3]d}
  wrong-password: {host: 127.0.0.1, port: %[2]d, password: not-it}
`, testUser, srv.Port(), down)
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(dir)
	r := expect(t, 1, env, "check", "-f", cfg)
	for _, want := range []string{
		"TARGET", "CONNECT", "PING", "STATUS", "SHARDS", "CLOCK-SKEW",
		fmt.Sprintf("down            127.0.0.1:%d  FAILED", down),
		fmt.Sprintf("down: fleare: dial 127.0.0.1:%d", down), "connection refused",
		"wrong-password: ", "incorrect",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, name := range []string{"up-1", "up-2"} {
		row := fmt.Sprintf("%-14s  %s  ok ", name, srv.Addr())
		if !strings.Contains(r.stdout, row) {
			t.Errorf("check lacks the row %q:\n%s", row, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "2 of 4 target(s) failed the check") {
		t.Errorf("check's summary: %s", r.stderr)
	}

	good := filepath.Join(dir, "good.yaml")
	data = fmt.Sprintf("version: 1\ntargets:\n  up: {host: 127.0.0.1, port: %d, username: %s, password_file: %s}\n",
		srv.Port(), testUser, pwFile)
	if err := os.WriteFile(good, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	r = expect(t, 0, env, "check", "-f", good)
	// fleartest reports one shard, and shares this host's clock.
	fields := strings.Fields(strings.Split(r.stdout, "\n")[1])
	if len(fields) != 8 || fields[2] != "ok" || fields[6] != "1" || !strings.HasPrefix(fields[7], "+") && !strings.HasPrefix(fields[7], "-") {
		t.Errorf("check of a live server: %q", fields)
	}
	noSecret(t, testPassword, r.stdout, r.stderr)
	expect(t, 1, env, "check", "-f", filepath.Join(examplesDir, "bad-port.yaml"))
	expect(t, 2, env, "check")
}

func TestVersion(t *testing.T) {
	r := expect(t, 0, baseEnv(shortDir(t)), "version")
	if !strings.HasPrefix(r.stdout, "flearectl ") || !strings.Contains(r.stdout, runtime.Version()) {
		t.Errorf("version: %v", r)
	}
}

func TestUsageErrors(t *testing.T) {
	env := baseEnv(shortDir(t))
	for _, args := range [][]string{
		{"bogus"}, {"apply"}, {"status", "--bogus"}, {"events", "extra"}, {"events", "-o", "xml"},
		{"demo", "--interval", "0s"},
	} {
		r := expect(t, 2, env, args...)
		if !strings.Contains(r.stderr, "Run 'flearectl --help' for usage.") {
			t.Errorf("flearectl %s: %v", strings.Join(args, " "), r)
		}
	}
	r := expect(t, 2, env, "status", "--socket", filepath.Join(shortDir(t), "none.sock"))
	if !strings.Contains(r.stderr, "cannot reach the manager") || !strings.Contains(r.stderr, "flearectl serve") {
		t.Errorf("status with no manager: %v", r)
	}
	if r := expect(t, 0, env, "apply", "--help"); !strings.Contains(r.stdout, "Examples:") {
		t.Errorf("apply --help: %v", r)
	}
	if r := expect(t, 0, env, "completion", "bash"); !strings.Contains(r.stdout, "flearectl") {
		t.Errorf("completion bash: %v", r)
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Example == "" {
			t.Errorf("%q has no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(io.Discard, io.Discard))
}
