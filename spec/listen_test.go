package spec

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/proxy"
)

const listenSrc = `version: 1
defaults:
  listen:
    max_clients: 50
targets:
  cache:
    host: 10.0.0.5
    listen:
      address: 127.0.0.1:7219
      users:
        - {username: web, password: "${WEB_PW}"}
        - {username: api, password_file: api.txt}
      auth_timeout: 2s
  plain:
    host: 10.0.0.6
`

func TestListenParse(t *testing.T) {
	cfg := mustParse(t, listenSrc, map[string]string{"WEB_PW": "web-secret-1"}, map[string]string{"api.txt": "api-secret-2\n"})
	c, _ := cfg.Lookup("cache")
	l := c.Listen
	if l.Address != "127.0.0.1:7219" || l.MaxClients != 50 || l.AuthTimeout != 2*time.Second ||
		l.ReadTimeout != proxy.DefaultReadTimeout || l.MaxPipeline != proxy.DefaultMaxPipeline || l.ClientBuffer != proxy.DefaultClientBuffer {
		t.Errorf("listen = %+v", l)
	}
	us := l.Users.All()
	if len(us) != 2 || us[0].Username != "web" || us[0].Password.Reveal() != "web-secret-1" ||
		us[1].Username != "api" || us[1].PasswordFile != testDir+"/api.txt" {
		t.Fatalf("users = %+v", us)
	}
	if p, _ := cfg.Lookup("plain"); p.Listen != (Listen{}) {
		t.Errorf("a target without listen has %+v (defaults must not give it one)", p.Listen)
	}
	// Every rendering masks the app passwords.
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range map[string]string{
		"Marshal": string(out), "JSON": string(js), "%v": fmt.Sprintf("%v", c), "%#v": fmt.Sprintf("%#v", c),
		"%+v": fmt.Sprintf("%+v", l), "Key.Value": keyValue(t, "listen.users", &c),
	} {
		if strings.Contains(s, "web-secret-1") {
			t.Errorf("%s shows a password: %s", what, s)
		}
	}
	if !strings.Contains(keyValue(t, "listen.users", &c), "web (<secret>), api (file ") {
		t.Errorf("users render as %q", keyValue(t, "listen.users", &c))
	}
	// JSON round trip keeps the names and files, never the passwords.
	var back Target
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Listen.Users.All(); len(got) != 2 || got[0].Username != "web" || !got[0].Password.IsZero() || got[1].PasswordFile != us[1].PasswordFile {
		t.Errorf("JSON users read back as %+v", got)
	}
}

func keyValue(t *testing.T, path string, tg *Target) string {
	t.Helper()
	for _, k := range Keys() {
		if k.Path == path {
			return k.Value(tg)
		}
	}
	t.Fatalf("no key %s", path)
	return ""
}

func TestListenProxyOptions(t *testing.T) {
	files := map[string]string{"api.txt": "api-secret-2\n"}
	cfg := mustParse(t, listenSrc, map[string]string{"WEB_PW": "web-secret-1"}, files)
	c, _ := cfg.Lookup("cache")
	o := c.Listen.ProxyOptions()
	if len(o.Users) != 2 || o.Users[0].Password != "web-secret-1" || o.Users[1].PasswordFunc == nil || o.MaxClients != 50 || o.AuthTimeout != 2*time.Second {
		t.Fatalf("ProxyOptions = %+v", o)
	}
	if _, err := proxy.New(nopBackend{}, o); err != nil {
		t.Fatalf("proxy refuses the options: %v", err)
	}
}

func TestListenErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"no users", "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: ':1'}\n", `listen.users: missing`},
		{"empty users", "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: ':1', users: []}\n", `listen.users: is empty`},
		{"bad port", "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: 'h:99999', users: [{username: u, password: p}]}\n", `has an invalid port`},
		{"url", "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: 'tcp://h:1', users: [{username: u, password: p}]}\n", `is a URL`},
		{"both passwords", "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: ':1', users: [{username: u, password: p, password_file: f}]}\n", `both set`},
		{"empty password", "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: ':1', users: [{username: u, password: ''}]}\n", `cannot send an empty password`},
		{"clash", "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: '0.0.0.0:7', users: [{username: u, password: p}]}\n  b:\n    host: h\n    listen: {address: '127.0.0.1:7', users: [{username: u, password: p}]}\n", `target "a" already listens on "0.0.0.0:7"`},
		{"max_clients", "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: ':1', max_clients: 0, users: [{username: u, password: p}]}\n", `listen.max_clients: 0 is out of range`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrors(t, tc.src, nil, nil)
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.want) {
				t.Errorf("errors %q lack %q", all, tc.want)
			}
		})
	}
	// Port 0 never clashes: each listener gets a free port.
	mustParse(t, "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: '127.0.0.1:0', users: [{username: u, password: p}]}\n  b:\n    host: h\n    listen: {address: '127.0.0.1:0', users: [{username: u, password: p}]}\n", nil, nil)
}

// Two targets listening on one socket are refused however its address is
// written; distinct sockets on one port are not.
func TestListenClashSpellings(t *testing.T) {
	src := func(a, b string) string {
		return "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: '" + a +
			"', users: [{username: u, password: p}]}\n  b:\n    host: h\n    listen: {address: '" + b +
			"', users: [{username: u, password: p}]}\n"
	}
	for _, tc := range []struct {
		a, b  string
		clash bool
	}{
		{"localhost:7219", "127.0.0.1:7219", true},
		{"[::1]:7219", "localhost:7219", true},
		{"LocalHost.:7219", "localhost:7219", true},
		{"app.localhost:7219", "127.0.0.1:7219", true},
		{":7219", "127.0.0.1:7219", true},
		{"0.0.0.0:7219", "127.0.0.1:7219", true},
		{"[::]:7219", "localhost:7219", true},
		{"0.0.0.0:7219", "[::1]:7219", true},
		{"[::ffff:127.0.0.1]:7219", "127.0.0.1:7219", true},
		{"Proxy.Example:7219", "proxy.example:7219", true},
		{"localhost:7219", "127.0.0.2:7219", false},
		{"localhost:7219", "localhost:7220", false},
		{"127.0.0.1:7219", "10.0.0.1:7219", false},
		{"proxy.example:7219", "127.0.0.1:7219", false}, // no name is looked up
	} {
		t.Run(tc.a+"_"+tc.b, func(t *testing.T) {
			if !tc.clash {
				mustParse(t, src(tc.a, tc.b), nil, nil)
				return
			}
			errs := parseErrors(t, src(tc.a, tc.b), nil, nil)
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			got := strings.Join(all, "\n")
			want := `target "a" already listens on "` + tc.a + `" (line 5)`
			if !strings.Contains(got, want) || !strings.Contains(got, `target "b"`) || !strings.Contains(got, ":8:") {
				t.Errorf("errors %q lack %q, naming target b at line 8", all, want)
			}
		})
	}
}

func TestListenSecretNotInErrors(t *testing.T) {
	src := "version: 1\ntargets:\n  a:\n    host: h\n    listen: {address: '${ADDR}', users: [{username: u, password: '${PW}'}]}\n"
	errs := parseErrors(t, src, map[string]string{"ADDR": "top-secret-addr", "PW": "pw-1"}, nil)
	for _, e := range errs {
		if strings.Contains(e.Error(), "top-secret-addr") {
			t.Errorf("error shows an expanded value: %v", e)
		}
	}
}

// nopBackend is a proxy.Backend that is never called.
type nopBackend struct{}

func (nopBackend) Exec(context.Context, string, ...string) (fleare.Reply, error) {
	return fleare.Reply{}, nil
}
