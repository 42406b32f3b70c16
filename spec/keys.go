package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Key is one setting of a target, as the configuration file names it. Keys
// lists them; code that must treat every setting (a diff, a rendering) walks
// Keys rather than naming Target's fields, so that a key added to the file
// format reaches it without an edit.
type Key struct {
	// Path is the key's place in a target: "host", "pool.size".
	Path string
	// Secret marks the password, whose value is never shown.
	Secret bool

	f *field
}

// keys is every leaf of targetFields, built once.
var keys = func() []Key {
	var ks []Key
	eachLeaf(targetFields, "", func(f *field, path string) {
		ks = append(ks, Key{Path: path, Secret: f.kind == kindSecret, f: f})
	})
	return ks
}()

// Keys returns every setting of a target (all but Name, which is the key it
// has under targets), in the order the file format lists them.
func Keys() []Key { return append([]Key(nil), keys...) }

// Value returns the key's value in t as the file writes it: "8", "2s", a
// host name; for a secret, Mask, or "" when it is empty; for listen.users,
// each user name with its password masked or its password_file
// ("web (<secret>), api (file /run/api)"), so that two values that differ
// only in a password render the same (a diff reports that change as
// sensitive).
func (k Key) Value(t *Target) string {
	switch p := k.f.ref(t).(type) {
	case *string:
		return *p
	case *Secret:
		return p.String()
	case *Users:
		return p.String()
	case *int:
		return strconv.Itoa(*p)
	case *time.Duration:
		return p.String()
	}
	return ""
}

// Same reports whether a and b hold the same value of the key.
func (k Key) Same(a, b *Target) bool {
	switch p := k.f.ref(a).(type) {
	case *string:
		return *p == *k.f.ref(b).(*string)
	case *Secret:
		return *p == *k.f.ref(b).(*Secret)
	case *Users:
		return *p == *k.f.ref(b).(*Users)
	case *int:
		return *p == *k.f.ref(b).(*int)
	case *time.Duration:
		return *p == *k.f.ref(b).(*time.Duration)
	}
	return false
}

// MarshalJSON writes the target with every key of the file format present,
// nested as in the file, after "name": integers as numbers, durations in Go
// syntax ("1m30s"), strings as they are (username and password_file ""
// when unset), and the password as Mask when set, "" when not; "listen"
// is null for a target without a listen section, and its users a list of
// {"username", "password" (masked), "password_file"}:
//
//	{"name": "e", "host": "10.0.0.8", "port": 9219, "username": "root",
//	 "password": "<secret>", "password_file": "",
//	 "pool": {"size": 8, "max_queue": 1024, "pipeline": 32},
//	 "timeouts": {"connect": "5s", "request": "2s", "drain": "10s"},
//	 "retry": {"max_retries": 5, "interval": "1s"}}
func (t Target) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"name":`)
	writeJSON(&b, t.Name)
	b.WriteByte(',')
	appendFieldsJSON(&b, targetFields, &t)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// appendFieldsJSON writes "key":value for each of fields, separated by
// commas.
func appendFieldsJSON(b *bytes.Buffer, fields []field, t *Target) {
	for i := range fields {
		f := &fields[i]
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(b, f.key)
		b.WriteByte(':')
		if f.key == listenField.key && t.Listen.Address == "" {
			b.WriteString("null") // no listen section
			continue
		}
		if f.kind == kindMap {
			b.WriteByte('{')
			appendFieldsJSON(b, f.children, t)
			b.WriteByte('}')
			continue
		}
		switch p := f.ref(t).(type) {
		case *int:
			b.WriteString(strconv.Itoa(*p))
		case *Users:
			appendUsersJSON(b, *p)
		default:
			writeJSON(b, Key{f: f}.Value(t))
		}
	}
}

// writeJSON writes s as a JSON string, leaving <, > and & as they are (an
// encoder that escapes them does so itself).
func writeJSON(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes; Encode ends it with \n
	b.Truncate(b.Len() - 1)
}

// UnmarshalJSON reads a target written by MarshalJSON. Keys it does not
// know are ignored, and so is the password: a target read back from JSON
// never has one (its text would be the mask), which makes it fit to show
// or compare, not to connect with.
func (t *Target) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	var nt Target
	if v, ok := raw["name"]; ok {
		if err := json.Unmarshal(v, &nt.Name); err != nil {
			return fmt.Errorf("spec: target: name: %w", err)
		}
	}
	if err := readFieldsJSON(targetFields, "", raw, &nt); err != nil {
		return err
	}
	*t = nt
	return nil
}

// readFieldsJSON reads the keys of fields present in raw into t.
func readFieldsJSON(fields []field, prefix string, raw map[string]json.RawMessage, t *Target) error {
	for i := range fields {
		f := &fields[i]
		v, ok := raw[f.key]
		if !ok {
			continue
		}
		path := prefix + f.key
		if f.kind == kindMap {
			var sub map[string]json.RawMessage // stays nil for null
			if err := json.Unmarshal(v, &sub); err != nil {
				return fmt.Errorf("spec: target %q: %s: %w", t.Name, path, err)
			}
			if err := readFieldsJSON(f.children, path+".", sub, t); err != nil {
				return err
			}
			continue
		}
		var err error
		switch p := f.ref(t).(type) {
		case *Users:
			*p, err = readUsersJSON(v)
		case *string:
			err = json.Unmarshal(v, p)
		case *int:
			err = json.Unmarshal(v, p)
		case *time.Duration:
			var s string
			if err = json.Unmarshal(v, &s); err == nil {
				if *p, err = time.ParseDuration(s); err != nil {
					err = fmt.Errorf("bad duration %q", s)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("spec: target %q: %s: %w", t.Name, path, err)
		}
	}
	return nil
}

// appendUsersJSON writes us as a list of {"username", "password",
// "password_file"}, each password as Mask when set.
func appendUsersJSON(b *bytes.Buffer, us Users) {
	b.WriteByte('[')
	for i, u := range us.All() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"username":`)
		writeJSON(b, u.Username)
		b.WriteString(`,"password":`)
		writeJSON(b, u.Password.String())
		b.WriteString(`,"password_file":`)
		writeJSON(b, u.PasswordFile)
		b.WriteByte('}')
	}
	b.WriteByte(']')
}

// readUsersJSON reads what appendUsersJSON wrote, without the passwords.
func readUsersJSON(data []byte) (Users, error) {
	var list []struct {
		Username     string `json:"username"`
		PasswordFile string `json:"password_file"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return Users{}, err
	}
	us := make([]User, len(list))
	for i, u := range list {
		us[i] = User{Username: u.Username, PasswordFile: u.PasswordFile}
	}
	return NewUsers(us...), nil
}
