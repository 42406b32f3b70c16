package manager

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// The JSON form of a TargetStatus (and of a PendingPool) lists "name", then
// every field of fleare.Stats in its order, then "last_change",
// "pending" and "proxy" (a ProxyStatus, with its own snake_case tags),
// following the project's JSON conventions (see FormatVersion):
// a stats field's key is its Go name in snake_case ("in_use",
// "queue_full"), but Addr is "endpoint" and DialAttempts "dials"; the state
// is its word ("connected"); durations are Go duration strings
// ("1.5s"); times are RFC 3339. LastError and LastErrorTime are left out
// when empty. A field added to fleare.Stats appears without an edit here.

// statsKeys renames the stats fields whose key is not their Go name.
var statsKeys = map[string]string{"Addr": "endpoint", "DialAttempts": "dials"}

// statsFields is fleare.Stats' fields with their JSON keys, in order.
var statsFields = func() []statsField {
	typ := reflect.TypeFor[fleare.Stats]()
	out := make([]statsField, typ.NumField())
	for i := range out {
		name := typ.Field(i).Name
		key, ok := statsKeys[name]
		if !ok {
			key = snakeCase(name)
		}
		out[i] = statsField{index: i, key: key}
	}
	return out
}()

// snakeCase turns a Go name into a snake_case key: "InUse" is "in_use",
// "LastErrorTime" "last_error_time", "HTTPCode" "http_code".
func snakeCase(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prevLower := unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || unicode.IsUpper(rs[i-1]) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

type statsField struct {
	index int
	key   string
}

// MarshalJSON writes the status in the form described above.
func (t TargetStatus) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"name":`)
	if err := writeValue(&b, t.Name); err != nil {
		return nil, err
	}
	b.WriteByte(',')
	if err := writeStats(&b, &t.Stats); err != nil {
		return nil, err
	}
	b.WriteString(`,"last_change":`)
	if err := writeValue(&b, t.LastChange); err != nil {
		return nil, err
	}
	if t.Pending != nil {
		b.WriteString(`,"pending":`)
		if err := writeValue(&b, t.Pending); err != nil {
			return nil, err
		}
	}
	if t.Proxy != nil {
		b.WriteString(`,"proxy":`)
		if err := writeValue(&b, t.Proxy); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a status written by MarshalJSON.
func (t *TargetStatus) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	var nt TargetStatus
	for key, dst := range map[string]any{"name": &nt.Name, "last_change": &nt.LastChange, "pending": &nt.Pending, "proxy": &nt.Proxy} {
		if v, ok := raw[key]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("manager: target status: %s: %w", key, err)
			}
		}
	}
	if err := readStats(raw, &nt.Stats); err != nil {
		return err
	}
	*t = nt
	return nil
}

// MarshalJSON writes the pool's stats as a TargetStatus has them.
func (p PendingPool) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if err := writeStats(&b, &p.Stats); err != nil {
		return nil, err
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads stats written by MarshalJSON.
func (p *PendingPool) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	var np PendingPool
	if err := readStats(raw, &np.Stats); err != nil {
		return err
	}
	*p = np
	return nil
}

// writeStats writes "key":value for each field of s, separated by commas.
func writeStats(b *bytes.Buffer, s *fleare.Stats) error {
	v := reflect.ValueOf(s).Elem()
	sep := false
	for _, f := range statsFields {
		fv := v.Field(f.index).Interface()
		switch x := fv.(type) {
		case string:
			if x == "" && f.key == "last_error" {
				continue
			}
		case time.Time:
			if x.IsZero() {
				continue
			}
		case time.Duration:
			fv = x.String()
		}
		if sep {
			b.WriteByte(',')
		}
		sep = true
		b.WriteString(`"` + f.key + `":`)
		if err := writeValue(b, fv); err != nil {
			return err
		}
	}
	return nil
}

// readStats reads the stats fields present in raw into s.
func readStats(raw map[string]json.RawMessage, s *fleare.Stats) error {
	v := reflect.ValueOf(s).Elem()
	for _, f := range statsFields {
		msg, ok := raw[f.key]
		if !ok {
			continue
		}
		var err error
		switch dst := v.Field(f.index).Addr().Interface().(type) {
		case *fleare.State:
			*dst, err = parseState(msg)
		case *time.Duration:
			*dst, err = parseDuration(msg)
		default:
			err = json.Unmarshal(msg, dst)
		}
		if err != nil {
			return fmt.Errorf("manager: target status: %s: %w", f.key, err)
		}
	}
	return nil
}

// parseState reads a state written as its word.
func parseState(msg json.RawMessage) (fleare.State, error) {
	var word string
	if err := json.Unmarshal(msg, &word); err != nil {
		return 0, err
	}
	// States are numbered from 0; the first number without a word of its
	// own ends the list.
	for s := fleare.State(0); !strings.HasPrefix(s.String(), "State("); s++ {
		if s.String() == word {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown state %q", word)
}

// parseDuration reads a duration written as a Go duration string.
func parseDuration(msg json.RawMessage) (time.Duration, error) {
	var text string
	if err := json.Unmarshal(msg, &text); err != nil {
		return 0, fmt.Errorf("want a duration string such as \"1.5s\": %w", err)
	}
	return time.ParseDuration(text)
}

// writeValue writes v as JSON, leaving <, > and & as they are (an encoder
// that escapes them does so itself).
func writeValue(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode ends with \n
	return nil
}
