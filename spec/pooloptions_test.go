package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// notPoolOptions lists the keys that reach no field of fleare.Options, and
// where they go instead. A key belongs here only when that is deliberate.
var notPoolOptions = map[string]string{
	"host":           "the pool's address: fleare.NewClient(t.Host, t.Port, ...)",
	"port":           "the pool's address: fleare.NewClient(t.Host, t.Port, ...)",
	"timeouts.drain": "the manager: how long a retired pool drains",
	// The listen section configures the proxy in front of the pool, not
	// the pool (Listen.ProxyOptions; the address goes to Proxy.Listen).
	"listen.address":       "the proxy's listener",
	"listen.users":         "Listen.ProxyOptions",
	"listen.max_clients":   "Listen.ProxyOptions",
	"listen.auth_timeout":  "Listen.ProxyOptions",
	"listen.read_timeout":  "Listen.ProxyOptions",
	"listen.write_timeout": "Listen.ProxyOptions",
	"listen.max_pipeline":  "Listen.ProxyOptions",
	"listen.client_buffer": "Listen.ProxyOptions",
}

// poolView is what PoolOptions decides, in comparable form: every option,
// the password included, and what the password function returns.
func poolView(o fleare.Options) string {
	pw := "no PasswordFunc"
	if o.PasswordFunc != nil {
		s, err := o.PasswordFunc()
		pw = fmt.Sprintf("PasswordFunc: %q, %v", s, err)
	}
	return fmt.Sprintf("%s Password:%q %s", o.String(), o.Password, pw)
}

// vary changes the value of key k in t.
func vary(t *testing.T, k Key, tg *Target) {
	switch p := k.f.ref(tg).(type) {
	case *string:
		*p += "x"
	case *Secret:
		*p = NewSecret(p.Reveal() + "x")
	case *Users:
		*p = NewUsers(append(p.All(), User{Username: "x", Password: NewSecret("x")})...)
	case *int:
		*p++
	case *time.Duration:
		*p += time.Second
	default:
		t.Fatalf("%s: cannot vary a %T; teach this test", k.Path, p)
	}
}

// TestEveryKeyReachesThePool fails when a key of the file format changes
// nothing in the pool's options and is not listed in notPoolOptions: a key
// that would parse, diff and render, and never reach the pool.
func TestEveryKeyReachesThePool(t *testing.T) {
	base := mustParse(t, "version: 1\ntargets:\n  a: {host: h, username: u, password: pw}\n", nil, nil).Targets[0]
	for _, k := range Keys() {
		changed := base
		vary(t, k, &changed)
		reaches := poolView(changed.PoolOptions()) != poolView(base.PoolOptions())
		where, listed := notPoolOptions[k.Path]
		switch {
		case !reaches && !listed:
			t.Errorf("key %s changes no pool option: translate it in PoolOptions (pooloptions.go), or list it in notPoolOptions with where it goes", k.Path)
		case reaches && listed:
			t.Errorf("key %s changes a pool option but is listed as going to %s", k.Path, where)
		}
	}
	for path := range notPoolOptions {
		if !isKey(path) {
			t.Errorf("notPoolOptions lists %s, which is not a key", path)
		}
	}
}

func isKey(path string) bool {
	for _, k := range Keys() {
		if k.Path == path {
			return true
		}
	}
	return false
}

// TestPoolOptionsZeroMeansNone checks the one place where a zero changes
// meaning: in a Target it is a value, in fleare.Options the default.
func TestPoolOptionsZeroMeansNone(t *testing.T) {
	src := "version: 1\ntargets:\n  a: {host: h, pool: {max_queue: 0}, retry: {max_retries: 0}}\n"
	o := mustParse(t, src, nil, nil).Targets[0].PoolOptions()
	if o.MaxQueue >= 0 || o.MaxRetries >= 0 {
		t.Errorf("max_queue 0 and max_retries 0 became MaxQueue %d, MaxRetries %d; want negative (none)", o.MaxQueue, o.MaxRetries)
	}
}

// Pipelining is on when pool.pipeline is left out; 0 and 1 in the file
// both turn it off, which fleare spells 1 (its 0 is its default, on).
func TestPoolOptionsPipeline(t *testing.T) {
	for _, tc := range []struct {
		pool string
		want int
	}{
		{"{}", fleare.DefaultPipeline},
		{"{pipeline: 0}", 1},
		{"{pipeline: 1}", 1},
		{"{pipeline: 2}", 2},
		{"{pipeline: 64}", 64},
	} {
		src := "version: 1\ntargets:\n  a: {host: h, pool: " + tc.pool + "}\n"
		if got := mustParse(t, src, nil, nil).Targets[0].PoolOptions().Pipeline; got != tc.want {
			t.Errorf("pool %s: Pipeline %d, want %d", tc.pool, got, tc.want)
		}
	}
}

// A password_file is read at every dial, so a rotated secret is used
// without a reload.
func TestPoolOptionsPasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first\n")
	o := Target{Name: "a", Host: "h", Username: "u", PasswordFile: path}.PoolOptions()
	if o.Password != "" || o.PasswordFunc == nil {
		t.Fatalf("password_file gave Password %q, PasswordFunc set %t", o.Password, o.PasswordFunc != nil)
	}
	for _, want := range []string{"first", "rotated"} {
		write(want + "\n")
		if got, err := o.PasswordFunc(); got != want || err != nil {
			t.Errorf("PasswordFunc() = %q, %v; want %q", got, err, want)
		}
	}
}
