package spec

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fleare-manager/fleare-manager/internal/safefile"
)

// MaxPasswordFileSize is the largest password_file read.
const MaxPasswordFileSize = 64 << 10

// ResolvePassword returns the password to authenticate with: Password, or,
// when PasswordFile is set, the file's content read now with trailing
// newlines (\n and \r\n) trimmed. Call it at every connect, so that a
// rotated secret is picked up without a reload. Errors name the file,
// never its content.
func (t Target) ResolvePassword() (Secret, error) {
	if t.PasswordFile == "" {
		return t.Password, nil
	}
	b, err := safefile.ReadFile(t.PasswordFile, MaxPasswordFileSize)
	if err != nil {
		return Secret{}, fmt.Errorf("spec: target %q: read password_file: %w", t.Name, err)
	}
	pw := trimNewline(string(b))
	switch {
	case pw == "":
		return Secret{}, fmt.Errorf("spec: target %q: password_file %s is empty", t.Name, t.PasswordFile)
	case !utf8.ValidString(pw):
		return Secret{}, fmt.Errorf("spec: target %q: password_file %s is not valid UTF-8 text", t.Name, t.PasswordFile)
	}
	return NewSecret(pw), nil
}

// trimNewline removes trailing \n and \r\n from s, and nothing else: a
// password may end with spaces.
func trimNewline(s string) string {
	for {
		switch {
		case strings.HasSuffix(s, "\r\n"):
			s = s[:len(s)-2]
		case strings.HasSuffix(s, "\n"):
			s = s[:len(s)-1]
		default:
			return s
		}
	}
}
