package admin_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/fleare-manager/fleare-manager/admin"
)

func TestListenUnixMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := admin.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket of mode 0600", fi.Mode())
	}
	if got := ln.Addr().String(); got != path {
		t.Errorf("Addr %q, want %q", got, path)
	}
	// Reachable at path, and nothing left of the temporary name.
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the socket: %v", err)
	}
	c.Close()
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want only the socket", len(entries))
	}
}

func TestListenUnixRefusesALiveServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := admin.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln2, err := admin.ListenUnix(path); !errors.Is(err, admin.ErrInUse) {
		if ln2 != nil {
			ln2.Close()
		}
		t.Fatalf("second listen: %v, want ErrInUse", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the live server's socket is gone: %v", err)
	}
}

func TestListenUnixReplacesAStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close() // a server that died: its socket file stays
	ln, err := admin.ListenUnix(path)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket %v %v", fi, err)
	}
	if err := ln.Close(); err != nil {
		t.Error(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket file outlives Close: %v", err)
	}
}

func TestListenUnixLeavesOtherFilesAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	if err := os.WriteFile(path, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ln, err := admin.ListenUnix(path); err == nil {
		ln.Close()
		t.Fatal("listen replaced a regular file")
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "not a socket" {
		t.Errorf("the file was changed: %q %v", data, err)
	}
}

func TestListenUnixCloseKeepsAReplacement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := admin.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Close removed a file that replaced the socket: %v", err)
	}
}

func TestListenTCPLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "example.com:0"} {
		if ln, err := admin.ListenTCP(addr); !errors.Is(err, admin.ErrNotLoopback) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("ListenTCP(%q): %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		ln, err := admin.ListenTCP(addr)
		if err != nil {
			t.Errorf("ListenTCP(%q): %v", addr, err)
			continue
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("ListenTCP(%q) listens on %v", addr, ip)
		}
		ln.Close()
	}
}

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	tok := admin.NewToken()
	if len(tok) < 26 || tok == admin.NewToken() {
		t.Fatalf("NewToken: %q", tok)
	}
	if err := admin.WriteTokenFile(path, tok); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file %v %v, want mode 0600", fi, err)
	}
	if got, err := admin.ReadTokenFile(path); err != nil || got != tok {
		t.Errorf("ReadTokenFile: %q %v", got, err)
	}
	if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ReadTokenFile(path); err == nil {
		t.Error("an empty token file was accepted")
	}
}

func TestDefaultPaths(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if got := admin.DefaultSocketPath(); got != "/run/user/1000/fleare-manager.sock" {
		t.Errorf("DefaultSocketPath %q", got)
	}
	if got := admin.DefaultTokenPath(); got != "/run/user/1000/fleare-manager.token" {
		t.Errorf("DefaultTokenPath %q", got)
	}
	// Without it, a directory of the user's own in the temporary
	// directory, never the shared temporary directory itself.
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", "/tmp/x")
	dir := fmt.Sprintf("/tmp/x/fleare-manager-%d", os.Geteuid())
	if got := admin.DefaultDir(); got != dir {
		t.Errorf("DefaultDir without XDG_RUNTIME_DIR: %q, want %q", got, dir)
	}
	if got := admin.DefaultSocketPath(); got != dir+"/fleare-manager.sock" {
		t.Errorf("DefaultSocketPath without XDG_RUNTIME_DIR: %q", got)
	}
	if got := admin.DefaultTokenPath(); got != dir+"/fleare-manager.token" {
		t.Errorf("DefaultTokenPath without XDG_RUNTIME_DIR: %q", got)
	}
}
