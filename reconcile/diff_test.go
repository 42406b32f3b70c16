package reconcile

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/spec"
)

// tgt returns a target with the spec defaults, changed by mods.
func tgt(name string, mods ...func(*spec.Target)) spec.Target {
	t := spec.Target{
		Name: name,
		Host: "10.0.0.1",
		Port: spec.DefaultPort,
		Pool: spec.Pool{Size: spec.DefaultPoolSize, MaxQueue: spec.DefaultMaxQueue},
		Timeouts: spec.Timeouts{
			Connect: spec.DefaultConnectTimeout,
			Request: spec.DefaultRequestTimeout,
			Drain:   spec.DefaultDrainTimeout,
		},
		Retry: spec.Retry{MaxRetries: spec.DefaultMaxRetries, Interval: spec.DefaultRetryInterval},
	}
	for _, m := range mods {
		m(&t)
	}
	return t
}

func host(h string) func(*spec.Target) { return func(t *spec.Target) { t.Host = h } }
func size(n int) func(*spec.Target)    { return func(t *spec.Target) { t.Pool.Size = n } }
func request(d time.Duration) func(*spec.Target) {
	return func(t *spec.Target) { t.Timeouts.Request = d }
}
func password(p string) func(*spec.Target) {
	return func(t *spec.Target) { t.Password = spec.NewSecret(p) }
}

func cfg(ts ...spec.Target) *spec.Config { return &spec.Config{Version: spec.Version, Targets: ts} }

func TestDiffTable(t *testing.T) {
	a, b, c := tgt("a"), tgt("b"), tgt("c")
	tests := []struct {
		name    string
		desired *spec.Config
		actual  *spec.Config
		want    []Action
	}{
		{name: "nothing", desired: cfg(), actual: nil},
		{name: "nil desired, nothing running", desired: nil, actual: nil},
		{name: "same", desired: cfg(a, b), actual: cfg(a, b)},
		{
			name:    "create",
			desired: cfg(a, b),
			actual:  cfg(b),
			want:    []Action{{Kind: Create, Name: "a", Desired: a}},
		},
		{
			name:    "delete",
			desired: cfg(b),
			actual:  cfg(a, b),
			want:    []Action{{Kind: Delete, Name: "a", Current: a}},
		},
		{
			name:    "nil desired deletes all",
			desired: nil,
			actual:  cfg(a, b),
			want:    []Action{{Kind: Delete, Name: "a", Current: a}, {Kind: Delete, Name: "b", Current: b}},
		},
		{
			name:    "resize",
			desired: cfg(tgt("a", size(8))),
			actual:  cfg(tgt("a", size(4))),
			want: []Action{{
				Kind: Resize, Name: "a", Desired: tgt("a", size(8)), Current: tgt("a", size(4)),
				Changes: []Change{{Path: "pool.size", Old: "4", New: "8"}},
			}},
		},
		{
			name:    "update",
			desired: cfg(tgt("a", request(5*time.Second))),
			actual:  cfg(tgt("a", request(2*time.Second))),
			want: []Action{{
				Kind: Update, Name: "a", Desired: tgt("a", request(5*time.Second)), Current: tgt("a", request(2*time.Second)),
				Changes: []Change{{Path: "timeouts.request", Old: "2s", New: "5s"}},
			}},
		},
		{
			name:    "update carries a resize",
			desired: cfg(tgt("a", size(8), request(5*time.Second))),
			actual:  cfg(tgt("a", size(4), request(2*time.Second))),
			want: []Action{{
				Kind: Update, Name: "a",
				Desired: tgt("a", size(8), request(5*time.Second)), Current: tgt("a", size(4), request(2*time.Second)),
				Changes: []Change{
					{Path: "pool.size", Old: "4", New: "8"},
					{Path: "timeouts.request", Old: "2s", New: "5s"},
				},
			}},
		},
		{
			name:    "replace carries everything else",
			desired: cfg(tgt("a", host("10.0.0.2"), size(8), request(5*time.Second))),
			actual:  cfg(tgt("a", size(4))),
			want: []Action{{
				Kind: Replace, Name: "a",
				Desired: tgt("a", host("10.0.0.2"), size(8), request(5*time.Second)), Current: tgt("a", size(4)),
				Changes: []Change{
					{Path: "host", Old: "10.0.0.1", New: "10.0.0.2"},
					{Path: "pool.size", Old: "4", New: "8"},
					{Path: "timeouts.request", Old: "30s", New: "5s"},
				},
			}},
		},
		{
			name:    "password change is a masked replace",
			desired: cfg(tgt("a", password("new-hunter2"))),
			actual:  cfg(tgt("a", password("hunter2"))),
			want: []Action{{
				Kind: Replace, Name: "a", Desired: tgt("a", password("new-hunter2")), Current: tgt("a", password("hunter2")),
				Changes: []Change{{Path: "password", Sensitive: true}},
			}},
		},
		{
			name:    "password to password_file",
			desired: cfg(tgt("a", func(t *spec.Target) { t.PasswordFile = "/run/secrets/fleare" })),
			actual:  cfg(tgt("a", password("hunter2"))),
			want: []Action{{
				Kind: Replace, Name: "a",
				Desired: tgt("a", func(t *spec.Target) { t.PasswordFile = "/run/secrets/fleare" }),
				Current: tgt("a", password("hunter2")),
				Changes: []Change{
					{Path: "password", Sensitive: true},
					{Path: "password_file", Old: "", New: "/run/secrets/fleare"},
				},
			}},
		},
		{
			name: "every kind, in policy order",
			desired: cfg(
				tgt("a", size(8)),                // resize
				tgt("b", request(5*time.Second)), // update
				tgt("c", host("10.0.0.2")),       // replace
				tgt("e"),                         // create
				tgt("f"),                         // create
				tgt("g"),                         // unchanged
			),
			actual: cfg(a, b, c,
				tgt("d"), // delete
				tgt("g"),
				tgt("i"), // delete
			),
			want: []Action{
				{Kind: Create, Name: "e", Desired: tgt("e")},
				{Kind: Create, Name: "f", Desired: tgt("f")},
				{Kind: Replace, Name: "c", Desired: tgt("c", host("10.0.0.2")), Current: c,
					Changes: []Change{{Path: "host", Old: "10.0.0.1", New: "10.0.0.2"}}},
				{Kind: Update, Name: "b", Desired: tgt("b", request(5*time.Second)), Current: b,
					Changes: []Change{{Path: "timeouts.request", Old: "30s", New: "5s"}}},
				{Kind: Resize, Name: "a", Desired: tgt("a", size(8)), Current: a,
					Changes: []Change{{Path: "pool.size", Old: "10", New: "8"}}},
				{Kind: Delete, Name: "d", Current: tgt("d")},
				{Kind: Delete, Name: "i", Current: tgt("i")},
			},
		},
		{
			name:    "duplicate desired names: the first counts",
			desired: cfg(tgt("a", size(8)), tgt("a", size(9))),
			actual:  cfg(tgt("a", size(8))),
		},
		{
			name:    "duplicate current names: the first counts",
			desired: cfg(tgt("a", size(8))),
			actual:  cfg(tgt("a", size(8)), tgt("a", size(2))),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.desired, tt.actual)
			if !reflect.DeepEqual(got.Actions, tt.want) {
				t.Errorf("Diff:\n got %+v\nwant %+v", got.Actions, tt.want)
			}
			if got.Empty() != (len(tt.want) == 0) {
				t.Errorf("Empty() = %v with %d actions", got.Empty(), len(tt.want))
			}
		})
	}
}

// TestDiffEveryField changes each field alone and checks the kind of action
// it calls for, independently of the classification table.
func TestDiffEveryField(t *testing.T) {
	base := tgt("a", password("pw-base"))
	tests := []struct {
		path string
		mod  func(*spec.Target)
		want Kind
	}{
		{"host", func(t *spec.Target) { t.Host = "10.0.0.2" }, Replace},
		{"port", func(t *spec.Target) { t.Port = 9220 }, Replace},
		{"username", func(t *spec.Target) { t.Username = "root" }, Replace},
		{"password", func(t *spec.Target) { t.Password = spec.NewSecret("pw-other") }, Replace},
		{"password_file", func(t *spec.Target) { t.PasswordFile = "/run/pw" }, Replace},
		{"pool.size", func(t *spec.Target) { t.Pool.Size = 3 }, Resize},
		{"pool.max_queue", func(t *spec.Target) { t.Pool.MaxQueue = 7 }, Update},
		{"pool.pipeline", func(t *spec.Target) { t.Pool.Pipeline = 16 }, Replace},
		{"pool.health_check_interval", func(t *spec.Target) { t.Pool.HealthCheckInterval = time.Minute }, Update},
		{"pool.max_lifetime", func(t *spec.Target) { t.Pool.MaxLifetime = time.Hour }, Update},
		{"pool.lifetime_jitter", func(t *spec.Target) { t.Pool.LifetimeJitter = time.Minute }, Update},
		{"timeouts.connect", func(t *spec.Target) { t.Timeouts.Connect = time.Second }, Update},
		{"timeouts.request", func(t *spec.Target) { t.Timeouts.Request = time.Second }, Update},
		{"timeouts.drain", func(t *spec.Target) { t.Timeouts.Drain = time.Second }, Update},
		{"retry.max_retries", func(t *spec.Target) { t.Retry.MaxRetries = 9 }, Update},
		{"retry.interval", func(t *spec.Target) { t.Retry.Interval = time.Second }, Update},
		// A listen change applies to the proxy in front of the pool: never a
		// pool rebuild.
		{"listen.address", func(t *spec.Target) { t.Listen.Address = "127.0.0.1:7220" }, Update},
		{"listen.users", func(t *spec.Target) {
			t.Listen.Users = spec.NewUsers(spec.User{Username: "web", Password: spec.NewSecret("pw-web")})
		}, Update},
		{"listen.max_clients", func(t *spec.Target) { t.Listen.MaxClients = 5 }, Update},
		{"listen.auth_timeout", func(t *spec.Target) { t.Listen.AuthTimeout = time.Second }, Update},
		{"listen.read_timeout", func(t *spec.Target) { t.Listen.ReadTimeout = time.Second }, Update},
		{"listen.write_timeout", func(t *spec.Target) { t.Listen.WriteTimeout = time.Second }, Update},
		{"listen.max_pipeline", func(t *spec.Target) { t.Listen.MaxPipeline = 5 }, Update},
		{"listen.client_buffer", func(t *spec.Target) { t.Listen.ClientBuffer = 5000 }, Update},
	}
	if len(tests) != len(fields) {
		t.Fatalf("%d cases for %d classified fields", len(tests), len(fields))
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			want := base
			tt.mod(&want)
			p := Diff(cfg(want), cfg(base))
			if len(p.Actions) != 1 {
				t.Fatalf("got %d actions, want 1", len(p.Actions))
			}
			a := p.Actions[0]
			if a.Kind != tt.want {
				t.Errorf("kind = %v, want %v", a.Kind, tt.want)
			}
			if len(a.Changes) != 1 || a.Changes[0].Path != tt.path {
				t.Errorf("changes = %+v, want one at %s", a.Changes, tt.path)
			}
		})
	}
}

// A pool.pipeline change replaces the pool only when it turns pipelining
// on or off; 0 and 1 both mean off.
func TestDiffPipeline(t *testing.T) {
	for _, tt := range []struct {
		from, to int
		want     Kind
	}{
		{0, 1, Update},
		{1, 0, Update},
		{32, 64, Update},
		{2, 32, Update},
		{0, 2, Replace},
		{1, 32, Replace},
		{32, 1, Replace},
		{32, 0, Replace},
	} {
		cur := tgt("a", func(t *spec.Target) { t.Pool.Pipeline = tt.from })
		want := tgt("a", func(t *spec.Target) { t.Pool.Pipeline = tt.to })
		p := Diff(cfg(want), cfg(cur))
		if len(p.Actions) != 1 || p.Actions[0].Kind != tt.want {
			t.Errorf("pipeline %d -> %d: plan %v, want one %v", tt.from, tt.to, p.Actions, tt.want)
		}
	}
}

func TestDiffUnsortedInput(t *testing.T) {
	a, b, c, d := tgt("a"), tgt("b", size(3)), tgt("c"), tgt("d")
	sorted := Diff(cfg(a, b, c), cfg(tgt("b"), c, d))

	desired := cfg(c, a, b)
	actual := cfg(d, tgt("b"), c)
	desiredCopy := slices.Clone(desired.Targets)
	actualCopy := slices.Clone(actual.Targets)
	got := Diff(desired, actual)

	if !reflect.DeepEqual(got, sorted) {
		t.Errorf("unsorted input:\n got %+v\nwant %+v", got, sorted)
	}
	if !slices.Equal(desired.Targets, desiredCopy) || !slices.Equal(actual.Targets, actualCopy) {
		t.Error("Diff reordered its input")
	}
	if len(got.Actions) != 3 {
		t.Errorf("got %d actions, want create a, resize b, delete d", len(got.Actions))
	}
}

// TestDiffListen: a listen address change shows both addresses; a change
// of an app user's password alone is reported without its values.
func TestDiffListen(t *testing.T) {
	users := func(pw string) spec.Users {
		return spec.NewUsers(spec.User{Username: "web", Password: spec.NewSecret(pw)})
	}
	base := tgt("a", func(t *spec.Target) { t.Listen.Address, t.Listen.Users = "127.0.0.1:7219", users("pw-one") })
	moved := base
	moved.Listen.Address = "127.0.0.1:7220"
	p := Diff(cfg(moved), cfg(base))
	if len(p.Actions) != 1 || p.Actions[0].Kind != Update ||
		!reflect.DeepEqual(p.Actions[0].Changes, []Change{{Path: "listen.address", Old: "127.0.0.1:7219", New: "127.0.0.1:7220"}}) {
		t.Errorf("address change: %+v", p.Actions)
	}
	if s := p.String(); !strings.Contains(s, "listen.address 127.0.0.1:7219 → 127.0.0.1:7220") {
		t.Errorf("rendered plan lacks the address change:\n%s", s)
	}
	rotated := base
	rotated.Listen.Users = users("pw-two")
	p = Diff(cfg(rotated), cfg(base))
	if len(p.Actions) != 1 || !reflect.DeepEqual(p.Actions[0].Changes, []Change{{Path: "listen.users", Sensitive: true}}) {
		t.Errorf("password change: %+v", p.Actions)
	}
	if s := p.String(); strings.Contains(s, "pw-one") || strings.Contains(s, "pw-two") {
		t.Errorf("rendered plan shows a password:\n%s", s)
	}
}
