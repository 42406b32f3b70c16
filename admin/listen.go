package admin

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Errors for states.
var (
	// ErrInUse: a live server already listens on the socket.
	ErrInUse = errors.New("admin: another server is listening on the socket")
	// ErrNotLoopback: a TCP address that is not a loopback address.
	ErrNotLoopback = errors.New("admin: the TCP address must be a loopback address (127.0.0.1, ::1 or localhost)")
)

// SocketName is the socket's file name in DefaultDir.
const SocketName = "fleare-manager.sock"

// DefaultDir returns the directory of the default socket and token file:
// $XDG_RUNTIME_DIR, or, without it, fleare-manager-<uid> in os.TempDir(),
// a directory of mode 0700 that EnsurePrivateDir creates and checks (the
// shared temporary directory itself would let another user take the
// socket's name first).
func DefaultDir() string {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "fleare-manager-"+strconv.Itoa(os.Geteuid()))
}

// DefaultSocketPath returns where the admin socket is by default:
// fleare-manager.sock in DefaultDir.
func DefaultSocketPath() string { return filepath.Join(DefaultDir(), SocketName) }

// ListenUnix listens on a unix socket at path that only its owner can use
// (mode 0600). The socket is bound under a temporary name in a directory
// of mode 0700 next to path, made 0600, and only then linked at path, so it
// is never reachable at path with a wider mode. A socket file left at path
// by a server that is gone is replaced; a live server there is ErrInUse;
// anything else there is an error. Closing the listener removes the socket
// file, unless something else has taken its place meanwhile.
func ListenUnix(path string) (net.Listener, error) {
	if err := clearStale(path); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".fleare-admin-")
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", path, err)
	}
	ul.SetUnlinkOnClose(false) // the temporary name goes with dir
	fail := func(err error) (net.Listener, error) {
		ul.Close()
		return nil, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(fmt.Errorf("admin: listen %s: %w", path, err))
	}
	// Link, unlike rename, never replaces a file that appeared at path
	// since clearStale looked.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fail(fmt.Errorf("%w: %s (it appeared while starting)", ErrInUse, path))
		}
		return fail(fmt.Errorf("admin: listen %s: %w", path, err))
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(fmt.Errorf("admin: listen %s: %w", path, err))
	}
	return &unixListener{UnixListener: ul, path: path, file: fi}, nil
}

// clearStale removes a socket file at path that no server listens on.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("admin: listen %s: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("admin: listen %s: the file exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("admin: listen %s: probe the existing socket: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("admin: listen %s: remove stale socket: %w", path, err)
	}
	return nil
}

// unixListener is a unix listener reachable at path, a link to the name it
// was bound under.
type unixListener struct {
	*net.UnixListener
	path string
	file fs.FileInfo // the socket file, to recognise it at Close
	once sync.Once
}

// Addr returns the path clients connect to.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// Close stops listening and removes the socket file if it is still ours.
func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, err := os.Lstat(l.path); err == nil && os.SameFile(fi, l.file) {
			_ = os.Remove(l.path)
		}
	})
	return err
}

// ListenTCP listens on addr, which must be a loopback address: an IP
// address such as 127.0.0.1 or [::1], or localhost, with a port (0 for a
// free one). Anything else is ErrNotLoopback: the admin API has no TLS.
// Serve it through RequireToken.
func ListenTCP(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%w: %s", ErrNotLoopback, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %s: %w", addr, err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%w: %s resolved to %s", ErrNotLoopback, addr, ln.Addr())
	}
	return ln, nil
}
