package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenPlan has every kind of action, a multi-change action, a secret, an
// IPv6 endpoint and values that need quoting.
func goldenPlan() Plan {
	secretA, secretB := "pw-golden-old-0x5eed", "pw-golden-new-0x5eed"
	desired := cfg(
		tgt("billing", func(t *spec.Target) { t.Host = "10.0.0.8"; t.Username = "root"; t.Password = spec.NewSecret(secretB) }, size(8), request(5*time.Second)),
		tgt("cache-primary", host("10.0.0.5"), size(8)),
		tgt("ipv6", host("fd00::1"), size(4)),
		tgt("jobs", request(5*time.Second), func(t *spec.Target) { t.Retry.Interval = 1500 * time.Millisecond }),
		tgt("sessions", host("sessions.internal"), size(8)),
		tgt("users", func(t *spec.Target) { t.Username = "" }),
	)
	actual := cfg(
		tgt("billing", func(t *spec.Target) { t.Host = "10.0.0.7"; t.Username = "root"; t.Password = spec.NewSecret(secretA) }, size(4)),
		tgt("jobs", request(2*time.Second)),
		tgt("legacy", host("10.0.0.6"), size(4)),
		tgt("sessions", host("sessions.internal"), size(4)),
		tgt("users", func(t *spec.Target) { t.Username = "app user" }),
	)
	return Diff(desired, actual)
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func indentJSON(t *testing.T, p Plan) []byte {
	t.Helper()
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestRenderGolden(t *testing.T) {
	p := goldenPlan()
	golden(t, "plan.txt", []byte(p.String()))
	golden(t, "plan.json", indentJSON(t, p))
	golden(t, "empty.txt", []byte(Plan{}.String()))
	golden(t, "empty.json", indentJSON(t, Plan{}))
	for _, out := range []string{p.String(), string(indentJSON(t, p))} {
		if strings.Contains(out, "pw-golden") || strings.Contains(out, "0x5eed") {
			t.Errorf("a password leaked:\n%s", out)
		}
	}
}

func TestRenderWriterError(t *testing.T) {
	boom := errors.New("boom")
	if err := goldenPlan().Render(failWriter{boom}); !errors.Is(err, boom) {
		t.Errorf("Render to a failing writer = %v, want %v", err, boom)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestActionString(t *testing.T) {
	tests := []struct {
		a    Action
		want string
	}{
		{Action{Kind: Create, Name: "a", Desired: tgt("a", host("10.0.0.5"), size(8))}, "+ create a (10.0.0.5:9219, pool 8)"},
		{Action{Kind: Delete, Name: "b", Current: tgt("b", host("::1"))}, "- delete b ([::1]:9219, pool 10)"},
		{Action{Kind: Resize, Name: "c", Changes: []Change{{Path: "pool.size", Old: "4", New: "8"}}}, "~ resize c: pool.size 4 → 8"},
		{Action{Kind: Update, Name: "d", Changes: []Change{
			{Path: "timeouts.request", Old: "2s", New: "5s"}, {Path: "retry.interval", Old: "1s", New: "2s"},
		}}, "~ update d: timeouts.request 2s → 5s, retry.interval 1s → 2s"},
		{Action{Kind: Replace, Name: "e", Changes: []Change{
			{Path: "host", Old: "a", New: "b"}, {Path: "password", Sensitive: true},
		}}, "± replace e: host a → b, password changed"},
		{Action{Kind: Replace, Name: "my cache", Changes: []Change{{Path: "username", Old: "", New: "x,y"}}},
			`± replace "my cache": username "" → "x,y"`},
		{Action{Name: "z"}, "? Kind(0) z"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	s := goldenPlan().Summary()
	var want Summary
	want[Create], want[Replace], want[Update], want[Resize], want[Delete] = 2, 2, 1, 1, 1
	if s != want {
		t.Errorf("Summary() = %+v, want %+v", s, want)
	}
	if got := s.String(); got != "2 to create, 2 to replace, 1 to update, 1 to resize, 1 to delete" {
		t.Errorf("Summary.String() = %q", got)
	}
}

func TestLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	p := goldenPlan()
	log.Info("plan", "plan", p)
	for _, a := range p.Actions {
		log.Info("apply", "action", a)
	}
	out := buf.String()
	for _, want := range []string{
		"plan.create=2 plan.replace=2 plan.update=1 plan.resize=1 plan.delete=1",
		`action.kind=replace action.target=billing action.changes="host 10.0.0.7 → 10.0.0.8, password changed, pool.size 4 → 8, timeouts.request 30s → 5s"`,
		"action.kind=delete action.target=legacy\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pw-golden") {
		t.Errorf("a password leaked into the log:\n%s", out)
	}
}

func TestKindText(t *testing.T) {
	for k := Create; k <= Delete; k++ {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Kind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("%v round-trips to %v, %v", k, back, err)
		}
	}
	if _, err := Kind(0).MarshalText(); err == nil {
		t.Error("Kind(0).MarshalText succeeded")
	}
	var k Kind
	if err := k.UnmarshalText([]byte("recreate")); err == nil || !strings.HasPrefix(err.Error(), "reconcile: ") {
		t.Errorf("UnmarshalText(recreate) = %v", err)
	}
}
