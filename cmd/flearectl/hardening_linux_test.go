package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/admin"
)

// openFDs returns how many descriptors process pid has open.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// Clients that open connections without end, with a wrong token or none,
// or that send nothing at all, hold at most admin.DefaultMaxConns of
// serve's descriptors, are disconnected after their 401, and do not keep
// the API from answering once they stop.
func TestServeConnectionLimit(t *testing.T) {
	srv := fleareServer(t)
	dir := shortDir(t)
	cfg := writeConfig(t, filepath.Join(dir, "fleare.yaml"), targetYAML{"cache", srv.Port(), 1})
	p, addr := serveTCP(t, dir, cfg, "the-token")
	pid := p.cmd.Process.Pid
	base := openFDs(t, pid)
	limit := base + admin.DefaultMaxConns + 8 // a few for what serve opens meanwhile
	most := 0
	sample := func() {
		if n := openFDs(t, pid); n > most {
			most = n
		}
	}

	// 300 requests with a wrong token, each on its own connection, all
	// at once: each gets its 401, and serve closes the connection.
	const wrong = 300
	var wg sync.WaitGroup
	conns := make(chan net.Conn, wrong)
	for range wrong {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			conns <- c // kept open by the client
			fmt.Fprint(c, "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%v %v", resp, err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(20 * time.Millisecond):
		}
		sample()
	}
	close(conns)
	// Every client still holds its connection open: serve must not.
	waitFor(t, "serve to close the refused connections", func() bool { return openFDs(t, pid) <= base+8 })
	for c := range conns {
		c.Close()
	}

	// 300 connections that send nothing, held open.
	var idle []net.Conn
	for range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		sample()
	}
	for range 50 {
		sample()
		time.Sleep(10 * time.Millisecond)
	}
	if most > limit {
		t.Errorf("serve held %d descriptors at once (%d at rest): more than %d connections", most, base, admin.DefaultMaxConns)
	}
	t.Logf("descriptors: %d at rest, at most %d under 300 refused and 300 idle connections", base, most)
	for _, c := range idle {
		c.Close()
	}
	// The held connections end as the clients close them: the API
	// answers again.
	if r := quick(t, baseEnv(dir, tokenEnv+"=the-token"), "status", "--admin-addr", addr); r.code != 0 {
		t.Errorf("status after the flood: %v", r)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("serve after SIGTERM: exit %d", code)
	}
}
