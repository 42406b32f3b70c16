package spec

import "fmt"

// Mask is what a Secret shows wherever it is printed or marshalled.
const Mask = "<secret>"

// Secret holds a credential. Every way of printing or marshalling it shows
// Mask (or nothing, when it is empty); only Reveal returns the value.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Reveal returns the secret's value. Call it only to put the value on the wire.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String returns Mask, or "" for an empty secret.
func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return Mask
}

// Format shows the mask for every verb, %#v and %d included.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// MarshalText makes encoding/json and friends show the mask.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalYAML makes YAML encoders show the mask.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }
