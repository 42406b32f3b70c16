package spec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fuzzParser resolves every variable that starts with S and reads every
// password file whose name starts with "ok", so that fuzzed inputs reach
// both the success and the failure paths.
var fuzzParser = Parser{
	LookupEnv: func(name string) (string, bool) {
		if strings.HasPrefix(name, "S") {
			return "8", true
		}
		return "", false
	},
	ReadFile: func(path string) ([]byte, error) {
		if strings.HasPrefix(filepath.Base(path), "ok") {
			return []byte("pw\n"), nil
		}
		return nil, os.ErrNotExist
	},
}

// FuzzParse checks that Parse never panics and that its results hold their
// invariants: on success a sorted, valid, round-trippable Config; on failure
// only positioned *Error values.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "examples", "configs", "*.yaml"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, tc := range errorCases {
		f.Add([]byte(tc.src))
	}
	f.Add(manyTargets(3))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := fuzzParser.Parse("fuzz.yaml", data)
		if err != nil {
			checkFuzzErrors(t, err)
			return
		}
		checkFuzzConfig(t, cfg)
	})
}

func checkFuzzErrors(t *testing.T, err error) {
	errs := Errors(err)
	if len(errs) == 0 {
		t.Fatalf("error without *Error values: %v", err)
	}
	for i, e := range errs {
		if e.File != "fuzz.yaml" || e.Line < 0 || e.Column < 0 || e.Msg == "" {
			t.Fatalf("malformed error %#v", e)
		}
		if i > 0 && (e.Line < errs[i-1].Line || e.Line == errs[i-1].Line && e.Column < errs[i-1].Column) {
			t.Fatalf("errors not sorted: %v", err)
		}
	}
	if got, want := err.Error(), strings.Join(Lines(err), "\n"); got != want {
		t.Fatalf("error text is not one problem per line:\n%s\nwant\n%s", got, want)
	}
}

func checkFuzzConfig(t *testing.T, cfg *Config) {
	if cfg.Version != Version {
		t.Fatalf("version %d", cfg.Version)
	}
	if !slices.IsSortedFunc(cfg.Targets, func(a, b Target) int { return strings.Compare(a.Name, b.Name) }) {
		t.Fatalf("targets not sorted")
	}
	for i, tg := range cfg.Targets {
		if i > 0 && cfg.Targets[i-1].Name == tg.Name {
			t.Fatalf("duplicate name %q", tg.Name)
		}
		if nameProblem(tg.Name) != "" || hostProblem(tg.Host, "") != "" ||
			tg.Port < MinPort || tg.Port > MaxPort || tg.Pool.Size < MinPoolSize || tg.Pool.Size > MaxPoolSize ||
			tg.Pool.MaxQueue < 0 || tg.Pool.MaxQueue > MaxMaxQueue || tg.Retry.MaxRetries < 0 || tg.Retry.MaxRetries > MaxMaxRetries ||
			tg.Timeouts.Connect <= 0 || tg.Timeouts.Request <= 0 || tg.Timeouts.Drain < 0 || tg.Retry.Interval <= 0 ||
			(!tg.Password.IsZero() && tg.PasswordFile != "") {
			t.Fatalf("invalid target accepted: %+v", tg)
		}
		if got, ok := cfg.Lookup(tg.Name); !ok || got != tg {
			t.Fatalf("Lookup(%q) failed", tg.Name)
		}
	}
	out, err := Marshal(cfg)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	again, err := fuzzParser.Parse("fuzz.yaml", out)
	if err != nil {
		t.Fatalf("Marshal output does not parse: %v\n%s", err, out)
	}
	for i, tg := range cfg.Targets {
		if !tg.Password.IsZero() {
			tg.Password = NewSecret(Mask)
		}
		tg.Listen.Users = maskUsers(tg.Listen.Users)
		if tg.Listen.Address != "" && (listenAddrProblem(tg.Listen.Address, "") != "" || tg.Listen.Users.Len() == 0) {
			t.Fatalf("invalid listen accepted: %+v", tg.Listen)
		}
		if again.Targets[i] != tg {
			t.Fatalf("round trip changed a target:\n got  %+v\n want %+v", again.Targets[i], tg)
		}
	}
}

// maskUsers returns us with each password replaced by the literal Mask, as
// a configuration that Marshal wrote reads back.
func maskUsers(us Users) Users {
	all := us.All()
	for i := range all {
		if !all[i].Password.IsZero() {
			all[i].Password = NewSecret(Mask)
		}
	}
	return NewUsers(all...)
}
