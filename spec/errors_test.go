package spec

import (
	"fmt"
	"strings"
	"testing"
)

// head is a valid file start: a target "a" with a host, whose further keys
// start at line 5, column 5.
const head = "version: 1\ntargets:\n  a:\n    host: h\n"

type wantErr struct {
	line, col     int
	target, field string
	msg           string // a substring of Msg
}

func (w wantErr) String() string {
	return fmt.Sprintf("%d:%d target=%q field=%q msg~%q", w.line, w.col, w.target, w.field, w.msg)
}

var errorCases = []struct {
	name       string
	src        string
	env, files map[string]string
	want       []wantErr
}{
	// The file as a whole.
	{name: "empty file", src: "",
		want: []wantErr{{1, 1, "", "", "the file is empty"}}},
	{name: "only comments", src: "# nothing here\n\n",
		want: []wantErr{{1, 1, "", "", "the file is empty"}}},
	{name: "null document", src: "~\n",
		want: []wantErr{{1, 1, "", "", "the file is empty"}}},
	{name: "syntax error", src: "version: 1\ntargets:\n  a: [\n",
		want: []wantErr{{3, 6, "", "", "YAML syntax error: '[' is not closed (did not find expected node content)"}}},
	{name: "bracket left open", src: "version: 1\ntargets:\n  a:\n    pool: [1, 2\n    host: x\n",
		want: []wantErr{{4, 11, "", "", "YAML syntax error: '[' is not closed (did not find expected ',' or ']')"}}},
	{name: "brace left open", src: "version: 1\ntargets:\n  a: {host: x\n  b: 3\n",
		want: []wantErr{{3, 6, "", "", "YAML syntax error: '{' is not closed (did not find expected ',' or '}')"}}},
	{name: "bad indentation", src: "version: 1\ntargets:\n  a:\n    host: x\n   port: 3\n",
		want: []wantErr{{3, 3, "", "", "YAML syntax error: did not find expected key"}}},
	{name: "bad indentation at the top", src: "version: 1\n targets: {}\n",
		want: []wantErr{{2, 2, "", "", "YAML syntax error: mapping values are not allowed in this context"}}},
	{name: "tab indentation", src: "version: 1\ntargets:\n\ta: {}\n",
		want: []wantErr{{3, 1, "", "", "YAML syntax error: found character that cannot start any token"}}},
	{name: "tab in nested indentation", src: "version: 1\ntargets:\n  a:\n  \thost: x\n",
		want: []wantErr{{4, 3, "", "", "YAML syntax error: found character that cannot start any token"}}},
	{name: "invalid UTF-8", src: "version: 1\ntargets:\n  a:\n    host: h\xffx\n",
		want: []wantErr{{4, 12, "", "", "invalid UTF-8 (byte 0xff); a configuration file must be UTF-8 text"}}},
	{name: "invalid UTF-8 after multibyte text", src: "# é\xc3\n",
		want: []wantErr{{1, 4, "", "", "invalid UTF-8 (byte 0xc3)"}}},
	{name: "control character", src: "version: 1\ntargets: {}\x00\n",
		want: []wantErr{{2, 12, "", "", "control character U+0000 is not allowed in YAML"}}},
	{name: "two documents", src: "version: 1\ntargets: {}\n---\nversion: 1\n",
		want: []wantErr{{3, 1, "", "", "a second YAML document"}}},
	{name: "top level is a list", src: "- version: 1\n",
		want: []wantErr{{1, 1, "", "", "is a list; the top level must be a mapping of version, defaults and targets"}}},
	{name: "top level is a scalar", src: "hello\n",
		want: []wantErr{{1, 1, "", "", "is a scalar; the top level must be a mapping"}}},

	// version.
	{name: "version missing", src: "targets: {}\n",
		want: []wantErr{{1, 1, "", "version", "missing (write version: 1 at the top of the file)"}}},
	{name: "version 2", src: "version: 2\ntargets: {}\n",
		want: []wantErr{{1, 10, "", "version", "2 is not supported (this release reads version 1)"}}},
	{name: "version quoted", src: "version: \"1\"\ntargets: {}\n",
		want: []wantErr{{1, 10, "", "version", `"1" is not an integer; must be an integer from 1 to 1`}}},
	{name: "version null", src: "version:\ntargets: {}\n",
		want: []wantErr{{1, 9, "", "version", "has no value"}}},

	// Top-level keys.
	{name: "unknown top-level key", src: "version: 1\ntargets: {}\nversoin: 1\n",
		want: []wantErr{{3, 1, "", "versoin", `unknown key; did you mean "version"? (allowed: version, defaults, targets)`}}},
	{name: "target key at top level", src: "version: 1\ntargets: {}\nport: 1\n",
		want: []wantErr{{3, 1, "", "port", "target settings go under a target in targets, or under defaults"}}},
	{name: "duplicate top-level key", src: "version: 1\ntargets: {}\nversion: 1\n",
		want: []wantErr{{3, 1, "", "version", "duplicate key (first at line 1)"}}},
	{name: "key is a list", src: "version: 1\ntargets: {}\n[a]: 1\n",
		want: []wantErr{{3, 1, "", "", "a key must be a plain string, not a list"}}},

	// targets.
	{name: "targets missing", src: "version: 1\n",
		want: []wantErr{{1, 1, "", "targets", "missing (write targets: {} for a configuration with no targets)"}}},
	{name: "targets null", src: "version: 1\ntargets:\n",
		want: []wantErr{{2, 9, "", "targets", "has no value; must be a mapping from target name to its settings (write targets: {} for none)"}}},
	{name: "targets is a list", src: "version: 1\ntargets:\n  - host: h\n",
		want: []wantErr{{3, 3, "", "targets", "is a list; must be a mapping from target name"}}},
	{name: "target is a scalar", src: "version: 1\ntargets:\n  a: h\n",
		want: []wantErr{{3, 6, "a", "", "is a scalar; must be a mapping of host, port, username, password, password_file, pool, timeouts, retry"}}},
	{name: "duplicate target", src: head + "  a:\n    host: h2\n",
		want: []wantErr{{5, 3, "a", "", "duplicate target name (first at line 3)"}}},
	{name: "target name with space", src: "version: 1\ntargets:\n  a b:\n    host: h\n",
		want: []wantErr{{3, 3, "a b", "", "invalid target name; use 1-63 ASCII letters, digits, '-', '_' and '.', starting with a letter or digit"}}},
	{name: "target name starting with dash", src: "version: 1\ntargets:\n  -a:\n    host: h\n",
		want: []wantErr{{3, 3, "-a", "", "invalid target name"}}},
	{name: "target name too long", src: "version: 1\ntargets:\n  " + strings.Repeat("x", 64) + ":\n    host: h\n",
		want: []wantErr{{3, 3, strings.Repeat("x", 64), "", "invalid target name; use 1-63"}}},
	{name: "target name not ASCII", src: "version: 1\ntargets:\n  café:\n    host: h\n",
		want: []wantErr{{3, 3, "café", "", "invalid target name"}}},

	// Unknown keys, with and without a hint.
	{name: "poolSize", src: head + "    poolSize: 8\n",
		want: []wantErr{{5, 5, "a", "poolSize", `unknown key; did you mean "size" under "pool"? (allowed: host, port, username, password, password_file, pool, timeouts, retry, listen)`}}},
	{name: "pool_size", src: head + "    pool_size: 8\n",
		want: []wantErr{{5, 5, "a", "pool_size", `did you mean "size" under "pool"?`}}},
	{name: "connectTimeout", src: head + "    connectTimeout: 5s\n",
		want: []wantErr{{5, 5, "a", "connectTimeout", `did you mean "connect" under "timeouts"?`}}},
	{name: "requestTimeout", src: head + "    requestTimeout: 5s\n",
		want: []wantErr{{5, 5, "a", "requestTimeout", `did you mean "request" under "timeouts"?`}}},
	{name: "maxRetries", src: head + "    maxRetries: 5\n",
		want: []wantErr{{5, 5, "a", "maxRetries", `did you mean "max_retries" under "retry"?`}}},
	{name: "retryInterval", src: head + "    retryInterval: 1s\n",
		want: []wantErr{{5, 5, "a", "retryInterval", `did you mean "interval" under "retry"?`}}},
	{name: "maxQueueSize in pool", src: head + "    pool: {maxQueueSize: 5}\n",
		want: []wantErr{{5, 12, "a", "pool.maxQueueSize", `unknown key; did you mean "max_queue"? (allowed: size, max_queue, pipeline, health_check_interval, max_lifetime, lifetime_jitter)`}}},
	{name: "user", src: head + "    user: root\n",
		want: []wantErr{{5, 5, "a", "user", `did you mean "username"?`}}},
	{name: "pass", src: head + "    pass: x\n",
		want: []wantErr{{5, 5, "a", "pass", `did you mean "password"?`}}},
	{name: "misspelt nested key", src: head + "    timeouts: {conect: 5s}\n",
		want: []wantErr{{5, 16, "a", "timeouts.conect", `did you mean "connect"?`}}},
	{name: "misspelt target key", src: head + "    prot: 1\n",
		want: []wantErr{{5, 5, "a", "prot", `did you mean "port"?`}}},
	{name: "unknown key without hint", src: head + "    colour: red\n",
		want: []wantErr{{5, 5, "a", "colour", "unknown key (allowed: host, port"}}},
	{name: "host in defaults", src: "version: 1\ndefaults:\n  host: h\ntargets: {}\n",
		want: []wantErr{{3, 3, "", "defaults.host", "not allowed in defaults (each target names its own host)"}}},
	{name: "unknown key in defaults", src: "version: 1\ndefaults:\n  poolSize: 3\ntargets: {}\n",
		want: []wantErr{{3, 3, "", "defaults.poolSize", `did you mean "size" under "pool"? (allowed: port, username, password, password_file, pool, timeouts, retry, listen)`}}},

	// Duplicate keys.
	{name: "duplicate key in target", src: head + "    port: 1\n    port: 2\n",
		want: []wantErr{{6, 5, "a", "port", "duplicate key (first at line 5)"}}},
	{name: "duplicate nested key", src: head + "    pool:\n      size: 1\n      size: 2\n",
		want: []wantErr{{7, 7, "a", "pool.size", "duplicate key (first at line 6)"}}},
	{name: "duplicate map key", src: head + "    pool: {size: 1}\n    pool: {size: 2}\n",
		want: []wantErr{{6, 5, "a", "pool", "duplicate key (first at line 5)"}}},

	// Wrong kinds and types.
	{name: "pool is a scalar", src: head + "    pool: 8\n",
		want: []wantErr{{5, 11, "a", "pool", "is a scalar; must be a mapping of size, max_queue, pipeline"}}},
	{name: "host is a list", src: "version: 1\ntargets:\n  a:\n    host: [h]\n",
		want: []wantErr{{4, 11, "a", "host", "is a list; must be a host name or IP address"}}},
	{name: "host is a number", src: "version: 1\ntargets:\n  a:\n    host: 1.5\n",
		want: []wantErr{{4, 11, "a", "host", "must be a string (put it in quotes)"}}},
	{name: "port is a word", src: head + "    port: abc\n",
		want: []wantErr{{5, 11, "a", "port", `"abc" is not an integer; must be an integer from 1 to 65535`}}},
	{name: "port is quoted", src: head + "    port: \"9219\"\n",
		want: []wantErr{{5, 11, "a", "port", `"9219" is not an integer`}}},
	{name: "port is a float", src: head + "    port: 92.19\n",
		want: []wantErr{{5, 11, "a", "port", `"92.19" is not an integer`}}},
	{name: "port is a bool", src: head + "    port: true\n",
		want: []wantErr{{5, 11, "a", "port", `"true" is not an integer`}}},
	{name: "port null", src: head + "    port:\n",
		want: []wantErr{{5, 10, "a", "port", "has no value; must be an integer from 1 to 65535"}}},
	{name: "username is a number", src: head + "    username: 1234\n",
		want: []wantErr{{5, 15, "a", "username", "must be a string (put it in quotes)"}}},
	{name: "alias", src: "version: 1\ndefaults:\n  port: &p 1\ntargets:\n  a:\n    host: h\n    port: *p\n",
		want: []wantErr{{7, 11, "a", "port", "YAML aliases (*name) are not supported"}}},
	{name: "merge key", src: "version: 1\ntargets:\n  a: &a\n    host: h\n  b:\n    <<: *a\n",
		want: []wantErr{
			{5, 3, "b", "host", "missing"},
			{6, 5, "b", "", "YAML merge keys (<<) are not supported (put shared settings under defaults)"},
		}},

	// Durations.
	{name: "duration without unit", src: head + "    timeouts: {connect: 30000}\n",
		want: []wantErr{{5, 25, "a", "timeouts.connect", `"30000" has no unit; write e.g. 30000ms or 30000s (units: ns, us, ms, s, m, h)`}}},
	{name: "duration zero without unit", src: head + "    timeouts: {drain: 0}\n",
		want: []wantErr{{5, 23, "a", "timeouts.drain", `"0" has no unit`}}},
	{name: "duration in words", src: head + "    retry: {interval: 5 seconds}\n",
		want: []wantErr{{5, 23, "a", "retry.interval", `"5 seconds" is not a duration; must be a positive duration such as 30s or 1m30s`}}},
	{name: "duration negative", src: head + "    timeouts: {request: -1s}\n",
		want: []wantErr{{5, 25, "a", "timeouts.request", `"-1s" is negative`}}},
	{name: "duration zero", src: head + "    timeouts: {connect: 0s}\n",
		want: []wantErr{{5, 25, "a", "timeouts.connect", `"0s" is zero; must be a positive duration`}}},
	{name: "duration overflow", src: head + "    timeouts: {connect: 9999999h}\n",
		want: []wantErr{{5, 25, "a", "timeouts.connect", `"9999999h" is not a duration`}}},
	{name: "duration is a bool", src: head + "    timeouts: {connect: false}\n",
		want: []wantErr{{5, 25, "a", "timeouts.connect", `"false" is not a duration`}}},

	// Bounds.
	{name: "port zero", src: head + "    port: 0\n",
		want: []wantErr{{5, 11, "a", "port", "0 is out of range; must be an integer from 1 to 65535"}}},
	{name: "port too high", src: head + "    port: 70000\n",
		want: []wantErr{{5, 11, "a", "port", "70000 is out of range; must be an integer from 1 to 65535"}}},
	{name: "port negative", src: head + "    port: -1\n",
		want: []wantErr{{5, 11, "a", "port", "-1 is out of range"}}},
	{name: "port beyond int64", src: head + "    port: 99999999999999999999\n",
		want: []wantErr{{5, 11, "a", "port", `"99999999999999999999" is out of range`}}},
	{name: "port in hexadecimal", src: head + "    port: 0x2400\n",
		want: []wantErr{{5, 11, "a", "port", `"0x2400" is not a decimal integer; must be an integer from 1 to 65535 (written in decimal)`}}},
	{name: "port in octal", src: head + "    port: 0o22\n",
		want: []wantErr{{5, 11, "a", "port", `"0o22" is not a decimal integer`}}},
	{name: "port with leading zeros out of range", src: head + "    port: 070000\n",
		want: []wantErr{{5, 11, "a", "port", "70000 is out of range"}}},
	{name: "host of dots", src: head[:len(head)-8] + "host: ...\n",
		want: []wantErr{{4, 11, "a", "host", `"..." is not a host name or IP address`}}},
	{name: "host like an option", src: head[:len(head)-8] + "host: -a\n",
		want: []wantErr{{4, 11, "a", "host", `"-a" is not a host name or IP address`}}},
	{name: "host with an empty label", src: head[:len(head)-8] + "host: a..b\n",
		want: []wantErr{{4, 11, "a", "host", `"a..b" is not a host name`}}},
	{name: "host label ending with a hyphen", src: head[:len(head)-8] + "host: cache-.internal\n",
		want: []wantErr{{4, 11, "a", "host", `"cache-.internal" is not a host name`}}},
	{name: "pool size zero", src: head + "    pool: {size: 0}\n",
		want: []wantErr{{5, 18, "a", "pool.size", "0 is out of range; must be an integer from 1 to 1024"}}},
	{name: "pool size too big", src: head + "    pool: {size: 1025}\n",
		want: []wantErr{{5, 18, "a", "pool.size", "1025 is out of range; must be an integer from 1 to 1024"}}},
	{name: "max_queue negative", src: head + "    pool: {max_queue: -1}\n",
		want: []wantErr{{5, 23, "a", "pool.max_queue", "-1 is out of range; must be an integer from 0 to 1000000; 0 means callers never wait"}}},
	{name: "pipeline too deep", src: head + "    pool: {pipeline: 2000}\n",
		want: []wantErr{{5, 22, "a", "pool.pipeline", "2000 is out of range; must be an integer from 0 to 1024; 0 or 1 sends one request at a time"}}},
	{name: "max_queue too big", src: head + "    pool: {max_queue: 1000001}\n",
		want: []wantErr{{5, 23, "a", "pool.max_queue", "1000001 is out of range"}}},
	{name: "max_retries too big", src: head + "    retry: {max_retries: 1001}\n",
		want: []wantErr{{5, 26, "a", "retry.max_retries", "1001 is out of range; must be an integer from 0 to 1000"}}},
	{name: "bad value in defaults reported once", src: "version: 1\ndefaults:\n  port: 0\ntargets:\n  a: {host: h}\n  b: {host: h}\n",
		want: []wantErr{{3, 9, "", "defaults.port", "0 is out of range"}}},

	// Hosts.
	{name: "host missing", src: "version: 1\ntargets:\n  a:\n    port: 1\n",
		want: []wantErr{{3, 3, "a", "host", "missing; every target needs a host name or IP address"}}},
	{name: "host empty", src: "version: 1\ntargets:\n  a:\n    host: \"\"\n",
		want: []wantErr{{4, 11, "a", "host", "is empty; must be a host name or IP address"}}},
	{name: "host with port", src: "version: 1\ntargets:\n  a:\n    host: 10.0.0.5:9219\n",
		want: []wantErr{{4, 11, "a", "host", `"10.0.0.5:9219" includes a port; write host: "10.0.0.5" and port: 9219`}}},
	{name: "host is a URL", src: "version: 1\ntargets:\n  a:\n    host: tcp://h:1\n",
		want: []wantErr{{4, 11, "a", "host", `"tcp://h:1" is a URL`}}},
	{name: "host in brackets", src: "version: 1\ntargets:\n  a:\n    host: \"[::1]\"\n",
		want: []wantErr{{4, 11, "a", "host", "has brackets; write an IPv6 address without them"}}},
	{name: "host with space", src: "version: 1\ntargets:\n  a:\n    host: a b\n",
		want: []wantErr{{4, 11, "a", "host", `"a b" is not a host name or IP address`}}},

	// Credentials.
	{name: "password and password_file", src: head + "    username: u\n    password: x\n    password_file: f\n",
		files: map[string]string{"f": "pw"},
		want:  []wantErr{{7, 20, "a", "", "password and password_file are both set; use one"}}},
	{name: "password and password_file in defaults", src: "version: 1\ndefaults:\n  username: u\n  password_file: f\n  password: x\ntargets: {}\n",
		files: map[string]string{"f": "pw"},
		want:  []wantErr{{5, 13, "", "defaults", "password and password_file are both set"}}},
	{name: "password without username", src: head + "    password: x\n",
		want: []wantErr{{3, 3, "a", "", "a password is set but username is empty"}}},
	{name: "password without username in defaults", src: "version: 1\ndefaults:\n  password: x\ntargets:\n  a: {host: h}\n  b: {host: h}\n",
		want: []wantErr{{3, 13, "", "defaults", "targets that set no username inherit this"}}},
	{name: "password_file missing", src: head + "    username: u\n    password_file: secrets/none\n",
		want: []wantErr{{6, 20, "a", "password_file", `"secrets/none" cannot be read: file does not exist`}}},
	{name: "password_file unreadable", src: head + "    username: u\n    password_file: unreadable\n",
		want: []wantErr{{6, 20, "a", "password_file", `"unreadable" cannot be read: permission denied`}}},
	{name: "password_file empty", src: head + "    username: u\n    password_file: f\n",
		files: map[string]string{"f": "\n"},
		want:  []wantErr{{6, 20, "a", "password_file", `"f" is empty; it must hold the password`}}},
	{name: "password_file not UTF-8", src: head + "    username: u\n    password_file: f\n",
		files: map[string]string{"f": "\xff\xfe"},
		want:  []wantErr{{6, 20, "a", "password_file", `"f" is not valid UTF-8 text`}}},
	{name: "password_file empty path", src: head + "    username: u\n    password_file: \"\"\n",
		want: []wantErr{{6, 20, "a", "password_file", `is empty; must be the path of a file holding the password (write password: "" for none)`}}},

	// Variables.
	{name: "unset variable", src: "version: 1\ntargets:\n  a:\n    host: ${FLEARE_HOST}\n",
		want: []wantErr{{4, 11, "a", "host", "variable FLEARE_HOST is not set (set it, or give a default: ${FLEARE_HOST:-value})"}}},
	{name: "unset variables in one value", src: "version: 1\ntargets:\n  a:\n    host: ${A}.${B}\n",
		want: []wantErr{{4, 11, "a", "host", "variable A is not set"}, {4, 11, "a", "host", "variable B is not set"}}},
	{name: "unset variable in port", src: head + "    port: ${PORT}\n",
		want: []wantErr{{5, 11, "a", "port", "variable PORT is not set"}}},
	{name: "unterminated reference", src: "version: 1\ntargets:\n  a:\n    host: ${HOST\n",
		want: []wantErr{{4, 11, "a", "host", `malformed variable reference "${HOST" (write ${NAME} or ${NAME:-default}`}}},
	{name: "reference without braces", src: "version: 1\ntargets:\n  a:\n    host: $HOST\n",
		want: []wantErr{{4, 11, "a", "host", `malformed variable reference "$HOST" (write ${NAME}`}}},
	{name: "bad variable name", src: "version: 1\ntargets:\n  a:\n    host: ${1X}\n",
		want: []wantErr{{4, 11, "a", "host", `malformed variable reference "${1X}"`}}},
	{name: "unsupported operator", src: "version: 1\ntargets:\n  a:\n    host: ${X:?oops}\n",
		want: []wantErr{{4, 11, "a", "host", `malformed variable reference "${X:?oops}"`}}},
	{name: "variable expands to a bad port", src: head + "    port: ${PORT}\n", env: map[string]string{"PORT": "99999"},
		want: []wantErr{{5, 11, "a", "port", `the value of "${PORT}" is out of range; must be an integer from 1 to 65535`}}},
	{name: "variable expands to a bare duration", src: head + "    timeouts: {connect: \"${T}\"}\n", env: map[string]string{"T": "30"},
		want: []wantErr{{5, 25, "a", "timeouts.connect", `the value of "${T}" has no unit; write e.g. 30s`}}},
	{name: "malformed reference in password", src: head + "    username: u\n    password: pa$word\n",
		want: []wantErr{{6, 15, "a", "password", "malformed variable reference (write ${NAME}"}}},

	// Several problems at once, sorted by position.
	{name: "every problem reported", src: "version: 3\ndefaults:\n  pool: {size: 0}\ntargets:\n  a:\n    port: 0\n  b:\n    host: \"\"\n    poolSize: 3\n",
		want: []wantErr{
			{1, 10, "", "version", "not supported"},
			{3, 16, "", "defaults.pool.size", "out of range"},
			{5, 3, "a", "host", "missing"},
			{6, 11, "a", "port", "out of range"},
			{8, 11, "b", "host", "is empty"},
			{9, 5, "b", "poolSize", "did you mean"},
		}},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErrors(t, tc.src, tc.env, tc.files)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tc.want), errorLines(got))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.File != testName || g.Line != w.line || g.Column != w.col || g.Target != w.target ||
					g.Field != w.field || !strings.Contains(g.Msg, w.msg) {
					t.Errorf("error %d:\n got  %s\n want %s", i, g, w)
				}
			}
		})
	}
}

func errorLines(es []*Error) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  %d:%d target=%q field=%q msg=%q\n", e.Line, e.Column, e.Target, e.Field, e.Msg)
	}
	return b.String()
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "c.yaml", Line: 3, Column: 5, Target: "a", Field: "pool.size", Msg: "0 is out of range"},
			`c.yaml:3:5: target "a": pool.size: 0 is out of range`},
		{Error{File: "c.yaml", Line: 1, Column: 1, Field: "version", Msg: "missing"}, `c.yaml:1:1: version: missing`},
		{Error{File: "c.yaml", Line: 7, Msg: "YAML syntax error: x"}, `c.yaml:7: YAML syntax error: x`},
		{Error{File: "c.yaml", Target: "a b", Msg: "invalid"}, `c.yaml: target "a b": invalid`},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestErrorsAggregate(t *testing.T) {
	_, err := testParser(nil, nil).Parse("c.yaml", []byte("version: 1\ntargets:\n  a: {port: 0}\n"))
	want := "c.yaml:3:3: target \"a\": host: missing; every target needs a host name or IP address\n" +
		"c.yaml:3:13: target \"a\": port: 0 is out of range; must be an integer from 1 to 65535"
	if err == nil || err.Error() != want {
		t.Fatalf("error text:\n%v\nwant:\n%s", err, want)
	}
	if got := Errors(fmt.Errorf("wrapped: %w", err)); len(got) != 2 {
		t.Errorf("Errors of a wrapped error: %d, want 2", len(got))
	}
	if got := Errors(fmt.Errorf("plain")); got != nil {
		t.Errorf("Errors of a plain error = %v, want nil", got)
	}
}
