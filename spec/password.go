package spec

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
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
	b, err := readCapped(t.PasswordFile, MaxPasswordFileSize)
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

// readCapped reads the file at path, refusing one larger than limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(b)) > limit {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	return b, nil
}
