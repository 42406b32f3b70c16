package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A value that came from a variable is never quoted by an error: the error
// names the reference as written, whatever field it lands in.
func TestErrorsNeverQuoteExpandedValues(t *testing.T) {
	const secret = "Hunter2-9aX!"
	for _, src := range []string{
		"version: ${PW}\ntargets: {}\n",
		head + "    port: ${PW}\n",
		head + "    port: \"${NUM}\"\n",
		head + "    pool: {size: \"${NUM}\", max_queue: \"${PW}\"}\n",
		head + "    timeouts: {connect: \"${PW}\", request: \"${NUM}\"}\n",
		head + "    retry: {interval: \"x${PW}\"}\n",
		"version: 1\ntargets:\n  a:\n    host: ${PW}\n",
		"version: 1\ntargets:\n  a:\n    host: \"${PW}:9000\"\n",
		"version: 1\ntargets:\n  a:\n    host: \"tcp://${PW}\"\n",
		head + "    username: u\n    password_file: ${PW}\n",
		head + "    username: u\n    password_file: \"${PW}/x\"\n",
	} {
		env := map[string]string{"PW": secret, "NUM": "123456789012"}
		_, err := testParser(env, nil).Parse(testName, []byte(src))
		if err == nil {
			t.Errorf("%q parsed", src)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "123456789012") {
			t.Errorf("the error quotes a variable's value:\n%v", err)
		}
		if !strings.Contains(err.Error(), `the value of "`) {
			t.Errorf("the error does not name the reference: %v", err)
		}
	}
}

func TestLeadingZerosAreDecimal(t *testing.T) {
	cfg := mustParse(t, head+"    port: 0080\n    pool: {size: 08, max_queue: 1_000}\n", nil, nil)
	if tg := cfg.Targets[0]; tg.Port != 80 || tg.Pool.Size != 8 || tg.Pool.MaxQueue != 1000 {
		t.Errorf("got port %d, size %d, max_queue %d; want 80, 8, 1000", tg.Port, tg.Pool.Size, tg.Pool.MaxQueue)
	}
	cfg = mustParse(t, "version: 01\ntargets: {}\n", nil, nil)
	if cfg.Version != 1 {
		t.Errorf("version %d", cfg.Version)
	}
	for _, bad := range []string{"1__0", "_10", "10_", "+-1", "1.5"} {
		if _, err := parseDecimal(bad); err == nil {
			t.Errorf("parseDecimal(%q) succeeded", bad)
		}
	}
}

func TestHostNames(t *testing.T) {
	for _, ok := range []string{"cache", "cache.internal", "cache.internal.", "my_host-1.example", "10.0.0.1", "::1", "fe80::1%eth0", "xn--bcher-kva.example", strings.Repeat("a", 63) + ".b"} {
		if msg := hostProblem(ok, ""); msg != "" {
			t.Errorf("%q refused: %s", ok, msg)
		}
	}
	for _, bad := range []string{"...", ".", "-a", "a-", "a..b", ".a", "a.-b", "a b", "é.example", strings.Repeat("a", 64), strings.Repeat("a.", 127) + "ab"} {
		if hostProblem(bad, "") == "" {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAllowVar(t *testing.T) {
	p := testParser(map[string]string{"FLEARE_PORT": "1234", "HOME": "/root", "SECRET": "s3"}, nil)
	p.AllowVar = func(name string) bool { return strings.HasPrefix(name, "FLEARE_") }
	cfg, err := p.Parse(testName, []byte(head+"    port: ${FLEARE_PORT}\n"))
	if err != nil || cfg.Targets[0].Port != 1234 {
		t.Fatalf("an allowed variable: %v", err)
	}
	looked := false
	p.LookupEnv = func(name string) (string, bool) { looked = looked || name == "SECRET"; return "s3", true }
	_, err = p.Parse(testName, []byte(head+"    username: ${SECRET}\n    password: \"${SECRET:-x}\"\n"))
	es := Errors(err)
	if len(es) != 2 || !strings.Contains(es[0].Msg, "variable SECRET is not allowed in this configuration") || looked {
		t.Fatalf("a refused variable (looked up: %v): %v", looked, err)
	}
}

func TestSecretDirs(t *testing.T) {
	base := t.TempDir()
	allowed := filepath.Join(base, "secrets")
	other := filepath.Join(base, "other")
	for _, dir := range []string{allowed, filepath.Join(allowed, "sub"), other, allowed + "-x"} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path string) string {
		if err := os.WriteFile(path, []byte("pw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	inside := write(filepath.Join(allowed, "sub", "pw"))
	outside := write(filepath.Join(other, "pw"))
	write(allowed + "-x/pw")
	linkOut := filepath.Join(allowed, "escape")
	if err := os.Symlink(outside, linkOut); err != nil {
		t.Fatal(err)
	}
	read := 0
	p := Parser{SecretDirs: []string{allowed}, ReadFile: func(path string) ([]byte, error) {
		if path != inside {
			read++
		}
		return os.ReadFile(path)
	}}
	src := func(pf string) []byte {
		return fmt.Appendf(nil, "version: 1\ntargets:\n  a:\n    host: h\n    username: u\n    password_file: %q\n", pf)
	}
	name := filepath.Join(base, "c.yaml")
	if cfg, err := p.Parse(name, src("secrets/sub/pw")); err != nil || cfg.Targets[0].PasswordFile != inside {
		t.Fatalf("a file inside: %v", err)
	}
	for _, pf := range []string{outside, linkOut, "secrets/../other/pw", "/proc/self/environ", allowed + "-x/pw"} {
		_, err := p.Parse(name, src(pf))
		if es := Errors(err); len(es) != 1 || !strings.Contains(es[0].Msg, "is outside the directories password files may be read from") {
			t.Errorf("%s: %v", pf, err)
		}
	}
	p.SecretDirs = []string{}
	if _, err := p.Parse(name, src(inside)); err == nil || !strings.Contains(err.Error(), "password files are not read") {
		t.Errorf("no directory allowed: %v", err)
	}
	if read != 0 {
		t.Errorf("%d files outside the allowed directories were read", read)
	}
}

func TestTooManyTargets(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\ntargets:\n")
	for i := range MaxTargets + 1 {
		fmt.Fprintf(&b, "  t%d: {host: h}\n", i)
	}
	es := parseErrors(t, b.String(), nil, nil)
	if len(es) != 1 || es[0].Line != 3 || !strings.Contains(es[0].Msg, "10001 targets; a configuration holds at most 10000") {
		t.Fatalf("%d targets: %v", MaxTargets+1, errorLines(es))
	}
}

// Past MaxProblems, problems are counted, not listed: the error's size is
// bounded whatever the file, and the first ones by position are kept.
func TestProblemsAreCapped(t *testing.T) {
	const n = 5000
	var b strings.Builder
	b.WriteString("version: 1\ntargets:\n  a:\n    host: h\n")
	for i := range n {
		fmt.Fprintf(&b, "    k%d: 1\n", i)
	}
	_, err := testParser(nil, nil).Parse(testName, []byte(b.String()))
	es := Errors(err)
	if len(es) != MaxProblems || es[0].Line != 5 || es[MaxProblems-1].Line != 4+MaxProblems {
		t.Fatalf("%d problems listed, from line %d", len(es), es[0].Line)
	}
	var o *Omitted
	if !errors.As(err, &o) || o.N != n-MaxProblems || Count(err) != n {
		t.Fatalf("omitted %+v, count %d", o, Count(err))
	}
	lines := Lines(err)
	if len(lines) != MaxProblems+1 || lines[MaxProblems] != fmt.Sprintf("%s: %d more problem(s) not listed (only the first %d are)", testName, n-MaxProblems, MaxProblems) {
		t.Fatalf("last line %q of %d", lines[len(lines)-1], len(lines))
	}
	if size := len(err.Error()); size > 200*MaxProblems {
		t.Errorf("the error holds %d bytes", size)
	}
	if Count(nil) != 0 || Count(errors.New("x")) != 1 {
		t.Error("Count of nil or a plain error")
	}
}

// A key or target name of any length is quoted short.
func TestLongNamesAreShortened(t *testing.T) {
	long := strings.Repeat("k", 1000) // YAML allows keys up to 1024
	src := "version: 1\ntargets:\n  " + long + ":\n    host: h\n    " + long + ": 1\n"
	es := parseErrors(t, src, nil, nil)
	for _, e := range es {
		if len(e.Error()) > 1000 {
			t.Errorf("an error of %d bytes: %.200s...", len(e.Error()), e.Error())
		}
	}
	if len(es) != 2 || es[0].Target != strings.Repeat("k", maxQuoted)+"..." {
		t.Errorf("errors: %v", errorLines(es))
	}
}
