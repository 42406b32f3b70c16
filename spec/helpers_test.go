package spec

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

// testDir is the directory test configurations claim to live in.
var testDir = filepath.FromSlash("/etc/fleare-manager")

// testName is the name test configurations are parsed under.
var testName = filepath.Join(testDir, "config.yaml")

// testParser returns a Parser whose environment is env and whose file
// system holds files, keyed by path relative to testDir.
func testParser(env, files map[string]string) Parser {
	return Parser{
		LookupEnv: func(name string) (string, bool) {
			v, ok := env[name]
			return v, ok
		},
		ReadFile: func(path string) ([]byte, error) {
			rel, err := filepath.Rel(testDir, path)
			if err != nil {
				return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
			}
			if c, ok := files[filepath.ToSlash(rel)]; ok {
				return []byte(c), nil
			}
			if rel == "unreadable" {
				return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrPermission}
			}
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		},
	}
}

// mustParse parses src with testParser and fails the test on an error.
func mustParse(t *testing.T, src string, env, files map[string]string) *Config {
	t.Helper()
	cfg, err := testParser(env, files).Parse(testName, []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return cfg
}

// parseErrors parses src with testParser and returns its problems, failing
// the test when it succeeds or returns anything but *Error values.
func parseErrors(t *testing.T, src string, env, files map[string]string) []*Error {
	t.Helper()
	cfg, err := testParser(env, files).Parse(testName, []byte(src))
	if err == nil {
		t.Fatalf("Parse succeeded with %d targets; want errors", len(cfg.Targets))
	}
	if cfg != nil {
		t.Errorf("Parse returned a config with its error")
	}
	list := Errors(err)
	var first *Error
	if !errors.As(err, &first) || len(list) == 0 || list[0] != first {
		t.Fatalf("errors.As and Errors disagree on %v", err)
	}
	return list
}
