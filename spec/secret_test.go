package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// secretText is a password that must never appear in any output.
const secretText = "hunter2-TOP-SECRET"

func secretConfig(t *testing.T) *Config {
	t.Helper()
	const src = "version: 1\ntargets:\n  a:\n    host: h\n    username: u\n    password: ${PW}\n  b:\n    host: h\n    username: u\n    password_file: pw\n"
	return mustParse(t, src, map[string]string{"PW": secretText}, map[string]string{"pw": secretText + "\n"})
}

func TestSecretNeverPrinted(t *testing.T) {
	cfg := secretConfig(t)
	a := cfg.Targets[0]
	if a.Password.Reveal() != secretText {
		t.Fatalf("the password did not reach the target: %q", a.Password.Reveal())
	}
	values := map[string]any{
		"Secret": a.Password, "*Secret": &a.Password, "Target": a, "*Target": &a,
		"Config": *cfg, "*Config": cfg, "[]Target": cfg.Targets,
		"map": map[string]Target{"a": a},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, secretText) || strings.Contains(out, fmt.Sprintf("%x", secretText)) {
				t.Errorf("fmt %s of %s shows the password: %s", verb, name, out)
			}
		}
		var j bytes.Buffer
		enc := json.NewEncoder(&j)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Errorf("json of %s: %v", name, err)
		}
		y, err := yaml.Marshal(v)
		if err != nil {
			t.Errorf("yaml of %s: %v", name, err)
		}
		for format, out := range map[string][]byte{"json": j.Bytes(), "yaml": y} {
			if strings.Contains(string(out), secretText) {
				t.Errorf("%s of %s shows the password: %s", format, name, out)
			}
			if !strings.Contains(string(out), Mask) {
				t.Errorf("%s of %s does not show the mask: %s", format, name, out)
			}
		}
	}
	out, err := Marshal(cfg)
	if err != nil || strings.Contains(string(out), secretText) || !strings.Contains(string(out), "password: "+Mask) {
		t.Errorf("Marshal: %v\n%s", err, out)
	}
}

func TestSecretNotInErrors(t *testing.T) {
	srcs := []string{
		// A malformed reference inside a password.
		"version: 1\ntargets:\n  a: {host: h, username: u, password: \"" + secretText + "$oops\"}\n",
		// A password of the wrong YAML type.
		"version: 1\ntargets:\n  a: {host: h, username: u, password: [" + secretText + "]}\n",
		// A password-like value in an unknown key's neighbourhood.
		"version: 1\ntargets:\n  a: {host: h, username: u, pasword: " + secretText + "}\n",
		// A password file whose content is bad.
		"version: 1\ntargets:\n  a: {host: h, username: u, password_file: bad}\n",
	}
	files := map[string]string{"bad": "\xff" + secretText}
	for _, src := range srcs {
		_, err := testParser(nil, files).Parse(testName, []byte(src))
		if err == nil {
			t.Fatalf("Parse succeeded on %q", src)
		}
		if strings.Contains(err.Error(), secretText) || strings.Contains(fmt.Sprintf("%+v", err), secretText) {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestSecretZero(t *testing.T) {
	var s Secret
	if !s.IsZero() || s.String() != "" || fmt.Sprint(s) != "" {
		t.Errorf("zero Secret prints %q", fmt.Sprint(s))
	}
	if s := NewSecret("x"); s.IsZero() || s.String() != Mask || s.Reveal() != "x" {
		t.Errorf("NewSecret(x): IsZero %v String %q", s.IsZero(), s.String())
	}
}
