package admin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// UnsafeSocketError is the client's refusal of a unix socket that someone
// other than the user could have made, or could replace: whoever listens
// there would receive what the client sends (a configuration file with its
// passwords).
type UnsafeSocketError struct {
	// Path is the socket path.
	Path string
	// Reason says what is wrong.
	Reason string
}

func (e *UnsafeSocketError) Error() string {
	return fmt.Sprintf("admin: refusing the socket %s: %s", e.Path, e.Reason)
}

// ErrUnsafeDir is wrapped by the error EnsurePrivateDir returns for a
// directory that exists and is not private.
var ErrUnsafeDir = errors.New("admin: the directory is not private")

// CheckSocket returns nil when the unix socket at path can only be the
// current user's: it is a socket owned by the effective user, and every
// directory on the way to it (as written, and with links resolved) belongs
// to that user or to root and lets no one else create or remove entries,
// unless it is sticky (as /tmp is: others cannot remove or rename what is
// not theirs). Otherwise it returns an *UnsafeSocketError, or the
// *fs.PathError of a socket that does not exist. On systems without file
// ownership it checks only that path is a socket.
func CheckSocket(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return &UnsafeSocketError{Path: path, Reason: err.Error()}
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return &UnsafeSocketError{Path: path, Reason: "it is not a socket"}
	}
	if uid, ok := owner(fi); ok && uid != os.Geteuid() {
		return &UnsafeSocketError{Path: path, Reason: fmt.Sprintf("it belongs to uid %d, not to you (uid %d); another user may have made it to receive what you send", uid, os.Geteuid())}
	}
	dirs := []string{filepath.Dir(abs)}
	if real, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil && real != dirs[0] {
		dirs = append(dirs, real)
	}
	for _, dir := range dirs {
		if reason := unsafeChain(dir); reason != "" {
			return &UnsafeSocketError{Path: path, Reason: reason}
		}
	}
	return nil
}

// unsafeChain returns why dir or one of its parents would let another user
// replace an entry in it, or "".
func unsafeChain(dir string) string {
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return err.Error()
		}
		if uid, ok := owner(fi); ok && uid != os.Geteuid() && uid != 0 {
			return fmt.Sprintf("the directory %s belongs to uid %d, who could replace the socket", dir, uid)
		}
		if _, ok := owner(fi); ok && fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0 {
			return fmt.Sprintf("the directory %s (mode %v) lets others replace the socket", dir, fi.Mode().Perm())
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// EnsurePrivateDir makes dir, mode 0700, if it does not exist (its parent
// must), and checks that it is private: a directory (not a link to one)
// owned by the effective user, with no access for anyone else. A directory
// that fails the check is left alone and is an error wrapping ErrUnsafeDir:
// another user may have made it first to take the names in it.
func EnsurePrivateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("admin: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	switch uid, ok := owner(fi); {
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is a %s, not a directory", ErrUnsafeDir, dir, kindOf(fi.Mode()))
	case ok && uid != os.Geteuid():
		return fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d); remove it, or choose another place with --socket", ErrUnsafeDir, dir, uid, os.Geteuid())
	case ok && fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%w: %s has mode %v; others must have no access (chmod 700 it)", ErrUnsafeDir, dir, fi.Mode().Perm())
	}
	return nil
}

func kindOf(m fs.FileMode) string {
	if m&fs.ModeSymlink != 0 {
		return "symbolic link"
	}
	return "file"
}
