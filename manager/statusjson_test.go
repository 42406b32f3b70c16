package manager

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// setEvery gives every field of s a value that is not its zero.
func setEvery(t *testing.T, s *fleare.Stats) {
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch p := f.Addr().Interface().(type) {
		case *string:
			*p = "text-" + v.Type().Field(i).Name
		case *fleare.State:
			*p = fleare.StateError
		case *time.Time:
			*p = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		case *time.Duration:
			*p = 1500 * time.Millisecond
		case *bool:
			*p = true
		default:
			if !f.CanInt() && !f.CanUint() {
				t.Fatalf("fleare.Stats.%s: this test cannot set a %T; teach it", v.Type().Field(i).Name, p)
			}
			if f.CanInt() {
				f.SetInt(int64(i + 1))
			} else {
				f.SetUint(uint64(i + 1))
			}
		}
	}
}

// The status keeps the JSON keys it always had, adds every other field of
// fleare.Stats, and reads back what it writes.
func TestTargetStatusJSON(t *testing.T) {
	ts := TargetStatus{Name: "a", LastChange: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Pending: &PendingPool{}}
	setEvery(t, &ts.Stats)
	setEvery(t, &ts.Pending.Stats)
	data, err := json.Marshal(ts)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "endpoint", "state", "desired", "open", "idle", "in_use", "in_flight", "waiting", "requests",
		"errors", "server_errors", "dials", "dial_failures", "replaced", "last_error", "last_error_time", "last_change", "pending",
		"wait_time", "queue_full", "closed_broken", "closed_forced", "closed_lifetime", "closed_reconnect",
		"paused", "held", "holds", "hold_time", "stale"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("status JSON lacks %q: %s", k, data)
		}
	}
	if want := reflect.TypeFor[fleare.Stats]().NumField() + 3; len(keys) != want {
		t.Errorf("status JSON has %d keys, want %d (name, every stats field, lastChange, pending): %s", len(keys), want, data)
	}
	if keys["state"] != "error" {
		t.Errorf("state = %v, want its word", keys["state"])
	}
	if keys["wait_time"] != "1.5s" {
		t.Errorf("wait_time = %v, want a duration string", keys["wait_time"])
	}
	if keys["last_change"] != "2026-01-01T00:00:00Z" {
		t.Errorf("last_change = %v, want RFC 3339", keys["last_change"])
	}
	for k := range keys {
		if k != strings.ToLower(k) {
			t.Errorf("key %q is not snake_case", k)
		}
	}
	var back TargetStatus
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ts) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, ts)
	}
	// An empty last error is left out, as before.
	data, _ = json.Marshal(TargetStatus{Name: "b"})
	if strings.Contains(string(data), "last_error") || strings.Contains(string(data), "pending") {
		t.Errorf("empty last error or pending written: %s", data)
	}
	if err := json.Unmarshal([]byte(`{"name":"a","state":"dozing"}`), &back); err == nil {
		t.Error("an unknown state was read")
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{"InUse": "in_use", "LastErrorTime": "last_error_time", "Open": "open",
		"HTTPCode": "http_code", "ClosedTLS": "closed_tls", "Dial2Fails": "dial2_fails"} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

// The status document carries its format version, and every key of it is
// snake_case, the durations strings.
func TestStatusJSONConventions(t *testing.T) {
	st := Status{Generation: 3, LastReload: &Reload{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Result: ReloadApplied},
		LastSuccess: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), EventsDropped: 1, LogDropped: 2,
		Targets:  []TargetStatus{{Name: "a"}},
		Draining: []DrainingPool{{Target: "a", Endpoint: "h:1", Why: "replaced", InUse: 1}}}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["format_version"] != float64(FormatVersion) {
		t.Errorf("format_version = %v, want %d", doc["format_version"], FormatVersion)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if k != snakeCase(k) || strings.ContainsAny(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
					t.Errorf("key %q is not snake_case: %s", k, data)
				}
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	for _, k := range []string{"last_reload", "last_success", "events_dropped", "log_dropped"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("status JSON lacks %q: %s", k, data)
		}
	}
	var back Status
	if err := json.Unmarshal(data, &back); err != nil || back.Generation != 3 || back.Draining[0].InUse != 1 || back.LogDropped != 2 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}
