package admin

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// TokenName is the token file's name in XDG_RUNTIME_DIR.
const TokenName = "fleare-manager.token"

// maxTokenFile bounds the size of a token file.
const maxTokenFile = 4 << 10

// DefaultTokenPath returns where a generated token is written by default:
// $XDG_RUNTIME_DIR/fleare-manager.token, or, without XDG_RUNTIME_DIR,
// fleare-manager-<uid>.token in os.TempDir().
func DefaultTokenPath() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, TokenName)
	}
	return filepath.Join(os.TempDir(), "fleare-manager-"+strconv.Itoa(os.Getuid())+".token")
}

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
// trimmed. An empty file is an error. Errors never include the content.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("admin: read token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("admin: read token file %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("admin: token file %s is larger than %d bytes", path, maxTokenFile)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("admin: token file %s is empty", path)
	}
	return tok, nil
}
