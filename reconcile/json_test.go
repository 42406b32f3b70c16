package reconcile

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fleare-manager/fleare-manager/spec"
)

// withoutPasswords returns p with every password cleared: what survives a
// trip through JSON.
func withoutPasswords(p Plan) Plan {
	out := Plan{}
	for _, a := range p.Actions {
		a.Desired.Password, a.Current.Password = spec.Secret{}, spec.Secret{}
		out.Actions = append(out.Actions, a)
	}
	return out
}

func TestJSONRoundTrip(t *testing.T) {
	p := goldenPlan()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, withoutPasswords(p)) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, withoutPasswords(p))
	}
	if back.String() != p.String() {
		t.Errorf("decoded plan renders differently:\n%s\nwant\n%s", back, p)
	}

	var empty Plan
	if err := json.Unmarshal([]byte(`{"format_version":1,"actions":[]}`), &empty); err != nil || !empty.Empty() {
		t.Errorf("empty plan decodes to %+v, %v", empty, err)
	}
}

func TestActionJSONRoundTrip(t *testing.T) {
	for _, a := range goldenPlan().Actions {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var back Action
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		want := withoutPasswords(Plan{Actions: []Action{a}}).Actions[0]
		if !reflect.DeepEqual(back, want) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", a.Name, back, want)
		}
	}
}

func TestJSONShape(t *testing.T) {
	b, err := json.Marshal(Plan{})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"format_version":1,"summary":{"create":0,"replace":0,"update":0,"resize":0,"delete":0},"actions":[]}`
	if string(b) != want {
		t.Errorf("empty plan = %s, want %s", b, want)
	}
	if _, err := json.Marshal(Plan{Actions: []Action{{Name: "a"}}}); err == nil {
		t.Error("a plan with a kindless action marshalled")
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
		is             error
	}{
		{name: "other version", in: `{"format_version":2,"actions":[]}`, want: "unsupported plan format version 2", is: ErrFormatVersion},
		{name: "no version", in: `{"actions":[]}`, want: "unsupported plan format version 0", is: ErrFormatVersion},
		{name: "unknown kind", in: `{"format_version":1,"actions":[{"kind":"recreate","target":"a"}]}`, want: `unknown action kind "recreate"`},
		{name: "missing kind", in: `{"format_version":1,"actions":[{"target":"a"}]}`, want: `action for "a" has no kind`},
		{name: "bad duration", in: `{"format_version":1,"actions":[{"kind":"create","target":"a","desired":{"timeouts":{"connect":"5"}}}]}`, want: `bad duration "5"`},
		{name: "not json", in: `{`, want: "reconcile: decode plan: unexpected end"},
		{name: "wrong type", in: `{"format_version":"1"}`, want: "reconcile: decode plan: json: cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Plan
			err := p.UnmarshalJSON([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "reconcile: ") {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}
