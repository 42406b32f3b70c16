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
	for _, k := range []string{"name", "endpoint", "state", "desired", "open", "idle", "inUse", "waiting", "requests",
		"errors", "serverErrors", "dials", "dialFailures", "replaced", "lastError", "lastErrorTime", "lastChange", "pending",
		"waitTime", "queueFull", "closedBroken", "closedForced"} {
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
	var back TargetStatus
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ts) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, ts)
	}
	// An empty last error is left out, as before.
	data, _ = json.Marshal(TargetStatus{Name: "b"})
	if strings.Contains(string(data), "lastError") || strings.Contains(string(data), "pending") {
		t.Errorf("empty last error or pending written: %s", data)
	}
	if err := json.Unmarshal([]byte(`{"name":"a","state":"dozing"}`), &back); err == nil {
		t.Error("an unknown state was read")
	}
}
