package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
// where a target is
//
//	{"name": "e", "host": "10.0.0.8", "port": 9219, "username": "root",
//	 "password": "<secret>", "password_file": "",
//	 "pool": {"size": 8, "max_queue": 1024},
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
		Current *jsonTarget  `json:"current,omitempty"`
		Desired *jsonTarget  `json:"desired,omitempty"`
	}
	jsonChange struct {
		Path      string  `json:"path"`
		Old       *string `json:"old,omitempty"`
		New       *string `json:"new,omitempty"`
		Sensitive bool    `json:"sensitive,omitempty"`
	}
	jsonTarget struct {
		Name         string       `json:"name"`
		Host         string       `json:"host"`
		Port         int          `json:"port"`
		Username     string       `json:"username"`
		Password     string       `json:"password"`
		PasswordFile string       `json:"password_file"`
		Pool         jsonPool     `json:"pool"`
		Timeouts     jsonTimeouts `json:"timeouts"`
		Retry        jsonRetry    `json:"retry"`
	}
	jsonPool struct {
		Size     int `json:"size"`
		MaxQueue int `json:"max_queue"`
		Pipeline int `json:"pipeline"`
	}
	jsonTimeouts struct {
		Connect jsonDuration `json:"connect"`
		Request jsonDuration `json:"request"`
		Drain   jsonDuration `json:"drain"`
	}
	jsonRetry struct {
		MaxRetries int          `json:"max_retries"`
		Interval   jsonDuration `json:"interval"`
	}
)

// jsonDuration is a time.Duration written as a Go duration string.
type jsonDuration time.Duration

func (d jsonDuration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *jsonDuration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("reconcile: bad duration %q", b)
	}
	*d = jsonDuration(v)
	return nil
}

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

// decodeError prefixes errors of encoding/json; errors from this package's
// own decoders already say what is wrong.
func decodeError(what string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) {
		return fmt.Errorf("reconcile: decode %s: %w", what, err)
	}
	return err
}

func (a *Action) toJSON() (jsonAction, error) {
	if !a.Kind.valid() {
		return jsonAction{}, fmt.Errorf("reconcile: action for %q has invalid kind %d", a.Name, uint8(a.Kind))
	}
	ja := jsonAction{Kind: a.Kind, Target: a.Name}
	if a.Kind != Create {
		ja.Current = targetToJSON(&a.Current)
	}
	if a.Kind != Delete {
		ja.Desired = targetToJSON(&a.Desired)
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
		a.Current = ja.Current.target()
	}
	if ja.Desired != nil {
		a.Desired = ja.Desired.target()
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

func targetToJSON(t *spec.Target) *jsonTarget {
	return &jsonTarget{
		Name:         t.Name,
		Host:         t.Host,
		Port:         t.Port,
		Username:     t.Username,
		Password:     t.Password.String(),
		PasswordFile: t.PasswordFile,
		Pool:         jsonPool{Size: t.Pool.Size, MaxQueue: t.Pool.MaxQueue, Pipeline: t.Pool.Pipeline},
		Timeouts: jsonTimeouts{
			Connect: jsonDuration(t.Timeouts.Connect),
			Request: jsonDuration(t.Timeouts.Request),
			Drain:   jsonDuration(t.Timeouts.Drain),
		},
		Retry: jsonRetry{MaxRetries: t.Retry.MaxRetries, Interval: jsonDuration(t.Retry.Interval)},
	}
}

// target returns the spec.Target jt describes, without a password.
func (jt *jsonTarget) target() spec.Target {
	return spec.Target{
		Name:         jt.Name,
		Host:         jt.Host,
		Port:         jt.Port,
		Username:     jt.Username,
		PasswordFile: jt.PasswordFile,
		Pool:         spec.Pool{Size: jt.Pool.Size, MaxQueue: jt.Pool.MaxQueue, Pipeline: jt.Pool.Pipeline},
		Timeouts: spec.Timeouts{
			Connect: time.Duration(jt.Timeouts.Connect),
			Request: time.Duration(jt.Timeouts.Request),
			Drain:   time.Duration(jt.Timeouts.Drain),
		},
		Retry: spec.Retry{MaxRetries: jt.Retry.MaxRetries, Interval: time.Duration(jt.Retry.Interval)},
	}
}
