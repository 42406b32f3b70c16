package spec

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
)

// Fingerprint identifies the desired state of one resolved target. Two
// fingerprints are == exactly when the targets they were taken from are ==,
// and they are equal across runs and processes, so a fingerprint can be
// stored, compared and used as a map key.
//
// The password takes part in the comparison through a SHA-256 digest kept in
// an unexported field, which is never printed: String, MarshalText and every
// fmt verb (%v, %+v, %#v included) show the non-secret fields and only
// whether a password is set. Two fingerprints may therefore print the same
// and still differ, when only the password changed.
type Fingerprint struct {
	t      Target            // the target, Password cleared
	secret [sha256.Size]byte // digest of the password; zero when there is none
}

// passwordDomain separates the fingerprint's password digest from any other
// use of SHA-256 on the same bytes.
const passwordDomain = "fleare-manager spec.Fingerprint password\x00"

// Fingerprint returns t's fingerprint.
func (t Target) Fingerprint() Fingerprint {
	f := Fingerprint{t: t}
	f.t.Password = Secret{}
	if !t.Password.IsZero() {
		f.secret = sha256.Sum256([]byte(passwordDomain + t.Password.Reveal()))
	}
	return f
}

// String returns the fingerprint's printable form: the target's fields as
// key=value pairs in a fixed order, strings quoted when they need it, with
// password=set, password=file or password=none in place of the password.
func (f Fingerprint) String() string {
	t := &f.t
	var b strings.Builder
	b.Grow(256)
	kv := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	kv("name", quoteIfNeeded(t.Name))
	kv("host", quoteIfNeeded(t.Host))
	kv("port", strconv.Itoa(t.Port))
	kv("username", quoteIfNeeded(t.Username))
	switch {
	case t.PasswordFile != "":
		kv("password", "file")
		kv("password_file", quoteIfNeeded(t.PasswordFile))
	case f.secret != [sha256.Size]byte{}:
		kv("password", "set")
	default:
		kv("password", "none")
	}
	kv("pool.size", strconv.Itoa(t.Pool.Size))
	kv("pool.max_queue", strconv.Itoa(t.Pool.MaxQueue))
	kv("pool.pipeline", strconv.Itoa(t.Pool.Pipeline))
	kv("timeouts.connect", t.Timeouts.Connect.String())
	kv("timeouts.request", t.Timeouts.Request.String())
	kv("timeouts.drain", t.Timeouts.Drain.String())
	kv("retry.max_retries", strconv.Itoa(t.Retry.MaxRetries))
	kv("retry.interval", t.Retry.Interval.String())
	return b.String()
}

// Format shows String for every verb, so that no verb reaches the digest.
func (f Fingerprint) Format(s fmt.State, _ rune) { _, _ = s.Write([]byte(f.String())) }

// MarshalText returns String, for encoding/json and YAML encoders.
func (f Fingerprint) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// quoteIfNeeded returns s, quoted unless it is non-empty and made only of
// characters that cannot be confused with the form's separators.
func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for i := range len(s) {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("-_.:/@%+", rune(c)) {
			return strconv.Quote(s)
		}
	}
	return s
}
