package admin

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fleare-manager/fleare-manager/internal/safefile"
)

// TokenName is the token file's name in DefaultDir.
const TokenName = "fleare-manager.token"

// maxTokenFile bounds the size of a token file.
const maxTokenFile = 4 << 10

// DefaultTokenPath returns where a generated token is written by default:
// fleare-manager.token in DefaultDir.
func DefaultTokenPath() string { return filepath.Join(DefaultDir(), TokenName) }

// NewToken returns a random token of at least 128 bits (crypto/rand.Text).
func NewToken() string { return rand.Text() }

// WriteTokenFile writes token to path, mode 0600, replacing any file there
// in one step (through a temporary file in the same directory, created
// 0600).
func WriteTokenFile(path, token string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".fleare-token-")
	if err != nil {
		return fmt.Errorf("admin: write token file: %w", err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("admin: write token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("admin: write token file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("admin: write token file: %w", err)
	}
	return nil
}

// ReadTokenFile reads a token from the file at path, white space around it
// trimmed. The file must be a regular file of at most 4 KiB: a named pipe,
// a device or anything else is an error at once (see safefile). An empty
// file is an error. Errors never include the content.
func ReadTokenFile(path string) (string, error) {
	b, err := safefile.ReadFile(path, maxTokenFile)
	if err != nil {
		return "", fmt.Errorf("admin: read token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin: token file %s is empty", path)
	}
	return tok, nil
}
