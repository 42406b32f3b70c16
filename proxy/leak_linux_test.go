package proxy_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// No goroutine (goleak, in TestMain) nor file descriptor is left once the
// proxy is closed, after clients of every kind came and went.
func TestNothingLeftAfterClose(t *testing.T) {
	before := openFDs(t)
	srv := newServer(t)
	pool := newPool(t, srv, 2, 4)
	p, err := proxy.New(pool, proxy.Options{Users: appUsers, Dial: dialer(srv), AuthTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	var conns []*testkit.Raw
	for range 16 {
		r := login(t, addr)
		r.Write(bytes.Repeat(testkit.Frame(t, "PING"), 10))
		conns = append(conns, r)
	}
	sub := login(t, addr)
	sub.Send("SUBSCRIBE", "x")
	sub.Call("PING")
	conns = append(conns, sub, testkit.DialRaw(t, addr)) // and one silent
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range conns {
		r.Conn().Close()
	}
	if err := pool.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	waitFor(t, "file descriptors to be released", func() bool { return openFDs(t) <= before })
}

func openFDs(t testing.TB) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}
