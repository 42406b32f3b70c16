package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fleare-manager/fleare-manager/spec"
)

// FormatVersion is the version of the JSON form of a Plan that this package
// writes and reads. Fields may be added within a version; a field is never
// renamed, removed or given another meaning without a new version.
//
// The JSON form of a Plan, version 1:
//
//	{
//	  "format_version": 1,
//	  "summary": {"create": 1, "replace": 1, "update": 0, "resize": 0, "delete": 0},
//	  "actions": [
//	    {
//	      "kind": "replace",               // create|replace|update|resize|delete
//	      "target": "e",
//	      "changes": [                     // absent for create and delete
//	        {"path": "host", "old": "10.0.0.7", "new": "10.0.0.8"},
//	        {"path": "password", "sensitive": true}   // no old, no new
//	      ],
//	      "current": { target },           // absent for create
//	      "desired": { target }            // absent for delete
//	    }
//	  ]
//	}
//
// where a target is written by spec.Target.MarshalJSON: every key of the
// file format, nested as in the file, after "name":
//
//	{"name": "e", "host": "10.0.0.8", "port": 9219, "username": "root",
//	 "password": "<secret>", "password_file": "",
//	 "pool": {"size": 8, "max_queue": 1024, "pipeline": 32,
//	          "health_check_interval": "1s", "max_lifetime": "0s", "lifetime_jitter": "0s"},
//	 "timeouts": {"connect": "5s", "request": "2s", "drain": "10s"},
//	 "retry": {"max_retries": 5, "interval": "1s"}}
//
// Every key is always present except those marked absent above. Durations
// are Go duration strings ("1m30s"). A password shows as spec.Mask when set
// and "" when not; its value is never written, so a decoded plan is for
// display and inspection only: its targets have no password.
const FormatVersion = 1

// ErrFormatVersion is returned when decoding a plan written in a format
// version this package does not read.
var ErrFormatVersion = errors.New("reconcile: unsupported plan format version")

// The JSON form's types, field for field as documented at FormatVersion.
type (
	jsonPlan struct {
		FormatVersion int          `json:"format_version"`
		Summary       Summary      `json:"summary"`
		Actions       []jsonAction `json:"actions"`
	}
	jsonAction struct {
		Kind    Kind         `json:"kind"`
		Target  string       `json:"target"`
		Changes []jsonChange `json:"changes,omitempty"`
		Current *spec.Target `json:"current,omitempty"`
		Desired *spec.Target `json:"desired,omitempty"`
	}
	jsonChange struct {
		Path      string  `json:"path"`
		Old       *string `json:"old,omitempty"`
		New       *string `json:"new,omitempty"`
		Sensitive bool    `json:"sensitive,omitempty"`
	}
)

// MarshalJSON writes the plan in the documented JSON form.
func (p Plan) MarshalJSON() ([]byte, error) {
	jp := jsonPlan{FormatVersion: FormatVersion, Summary: p.Summary(), Actions: make([]jsonAction, len(p.Actions))}
	for i := range p.Actions {
		a, err := p.Actions[i].toJSON()
		if err != nil {
			return nil, err
		}
		jp.Actions[i] = a
	}
	return json.Marshal(jp)
}

// UnmarshalJSON reads a plan in the documented JSON form. It rejects other
// format versions with ErrFormatVersion. The summary is not read: Summary
// counts the decoded actions. Passwords are not carried: a decoded plan is
// for display and inspection, not for applying.
func (p *Plan) UnmarshalJSON(b []byte) error {
	var jp jsonPlan
	if err := json.Unmarshal(b, &jp); err != nil {
		return decodeError("plan", err)
	}
	if jp.FormatVersion != FormatVersion {
		return fmt.Errorf("%w %d (want %d)", ErrFormatVersion, jp.FormatVersion, FormatVersion)
	}
	var acts []Action
	if len(jp.Actions) > 0 {
		acts = make([]Action, len(jp.Actions))
	}
	for i := range jp.Actions {
		a, err := jp.Actions[i].fromJSON()
		if err != nil {
			return err
		}
		acts[i] = a
	}
	p.Actions = acts
	return nil
}

// MarshalJSON writes the action as one element of a plan's "actions".
func (a Action) MarshalJSON() ([]byte, error) {
	ja, err := a.toJSON()
	if err != nil {
		return nil, err
	}
	return json.Marshal(ja)
}

// UnmarshalJSON reads an action written by MarshalJSON.
func (a *Action) UnmarshalJSON(b []byte) error {
	var ja jsonAction
	if err := json.Unmarshal(b, &ja); err != nil {
		return decodeError("action", err)
	}
	v, err := ja.fromJSON()
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// decodeError prefixes the errors of a decode; errors of this package's own
// decoders (errUnknownKind) already say what is wrong.
func decodeError(what string, err error) error {
	if errors.Is(err, errUnknownKind) {
		return err
	}
	return fmt.Errorf("reconcile: decode %s: %w", what, err)
}

func (a *Action) toJSON() (jsonAction, error) {
	if !a.Kind.valid() {
		return jsonAction{}, fmt.Errorf("reconcile: action for %q has invalid kind %d", a.Name, uint8(a.Kind))
	}
	ja := jsonAction{Kind: a.Kind, Target: a.Name}
	if a.Kind != Create {
		ja.Current = &a.Current
	}
	if a.Kind != Delete {
		ja.Desired = &a.Desired
	}
	if len(a.Changes) > 0 {
		ja.Changes = make([]jsonChange, len(a.Changes))
		for i, c := range a.Changes {
			jc := jsonChange{Path: c.Path, Sensitive: c.Sensitive}
			if !c.Sensitive {
				jc.Old, jc.New = &c.Old, &c.New
			}
			ja.Changes[i] = jc
		}
	}
	return ja, nil
}

func (ja *jsonAction) fromJSON() (Action, error) {
	if !ja.Kind.valid() {
		return Action{}, fmt.Errorf("reconcile: action for %q has no kind", ja.Target)
	}
	a := Action{Kind: ja.Kind, Name: ja.Target}
	if ja.Current != nil {
		a.Current = *ja.Current
	}
	if ja.Desired != nil {
		a.Desired = *ja.Desired
	}
	if len(ja.Changes) > 0 {
		a.Changes = make([]Change, len(ja.Changes))
		for i, jc := range ja.Changes {
			c := Change{Path: jc.Path, Sensitive: jc.Sensitive}
			if !jc.Sensitive && jc.Old != nil {
				c.Old = *jc.Old
			}
			if !jc.Sensitive && jc.New != nil {
				c.New = *jc.New
			}
			a.Changes[i] = c
		}
	}
	return a, nil
}
