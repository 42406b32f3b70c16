//go:build unix

package admin_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fleare-manager/fleare-manager/admin"
)

// nobody is the uid and gid of user nobody, whom root makes own files.
const nobody = 65534

// asRoot reports whether the test can make files another user's. These
// tests need root (chown); CI runs the suite as root, so they run there.
func asRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a file another user's (CI runs as root)")
	}
}

// squatter listens on a socket at path, as another user would to receive
// what clients send, and counts the connections it gets.
func squatter(t *testing.T, path string) *atomic.Int64 {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			got.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return &got
}

func status(sock string) error {
	c := admin.NewClient(admin.ClientOptions{Socket: sock})
	defer c.Close()
	_, err := c.Status(context.Background())
	return err
}

func TestCheckSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s")
	squatter(t, sock)
	if err := admin.CheckSocket(sock); err != nil {
		t.Fatalf("the user's own socket in a private directory: %v", err)
	}
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var unsafe *admin.UnsafeSocketError
	if err := admin.CheckSocket(file); !errors.As(err, &unsafe) {
		t.Errorf("a regular file: %v", err)
	}
	if err := admin.CheckSocket(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing socket: %v", err)
	}
	// A directory anyone may write in (and so rename or remove the socket
	// in) is refused; one with the sticky bit, as /tmp, is not.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := admin.CheckSocket(sock); !errors.As(err, &unsafe) || !strings.Contains(err.Error(), "lets others replace the socket") {
		t.Errorf("a socket in a directory of mode 0777: %v", err)
	}
	if err := os.Chmod(dir, 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := admin.CheckSocket(sock); err != nil {
		t.Errorf("a socket in a sticky directory: %v", err)
	}
	// A parent that others can write in is as bad.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	inner := filepath.Join(sub, "s")
	squatter(t, inner)
	if err := admin.CheckSocket(inner); !errors.As(err, &unsafe) {
		t.Errorf("a socket under a directory of mode 0777: %v", err)
	}
	if err := status(inner); !errors.As(err, &unsafe) {
		t.Errorf("the client used a socket others could replace: %v", err)
	}
}

// A socket another user made where the client expects the manager's gets
// nothing from the client: not a connection, let alone a configuration.
func TestClientRefusesAnotherUsersSocket(t *testing.T) {
	asRoot(t)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	got := squatter(t, sock)
	if err := os.Lchown(sock, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	c := admin.NewClient(admin.ClientOptions{Socket: sock})
	defer c.Close()
	_, err := c.Apply(context.Background(), "/etc/fleare.yaml", []byte("version: 1\ntargets: {}\n"), false)
	var unsafe *admin.UnsafeSocketError
	if !errors.As(err, &unsafe) || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Fatalf("apply to another user's socket: %v", err)
	}
	if n := got.Load(); n != 0 {
		t.Errorf("the other user's listener got %d connection(s)", n)
	}

	// The same in a directory that belongs to another user.
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	sock = filepath.Join(dir, "admin.sock")
	got = squatter(t, sock)
	if err := status(sock); !errors.As(err, &unsafe) || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("a socket in another user's directory: %v", err)
	}
	if n := got.Load(); n != 0 {
		t.Errorf("the listener got %d connection(s)", n)
	}
}

func TestEnsurePrivateDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "private")
	if err := admin.EnsurePrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("made %v %v, want a directory of mode 0700", fi, err)
	}
	if err := admin.EnsurePrivateDir(dir); err != nil {
		t.Errorf("again: %v", err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := admin.EnsurePrivateDir(open); !errors.Is(err, admin.ErrUnsafeDir) {
		t.Errorf("a directory of mode 0755: %v", err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := admin.EnsurePrivateDir(link); !errors.Is(err, admin.ErrUnsafeDir) {
		t.Errorf("a link to a private directory: %v", err)
	}
	if fi, _ := os.Stat(open); fi.Mode().Perm() != 0o755 {
		t.Errorf("the refused directory was changed to %v", fi.Mode())
	}
}

// A private directory another user made first is refused, not used.
func TestEnsurePrivateDirRefusesAnotherUsers(t *testing.T) {
	asRoot(t)
	dir := filepath.Join(t.TempDir(), "squatted")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := admin.EnsurePrivateDir(dir); !errors.Is(err, admin.ErrUnsafeDir) || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("another user's directory: %v", err)
	}
}
