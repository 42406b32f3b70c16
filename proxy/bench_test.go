package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// BenchmarkPing compares PING round trips of app connections (one
// fleare.Client with one connection per caller, each caller on its own
// connection, as apps are) made straight to the server ("direct", the
// baseline) and through the proxy, which carries them over a pool of 8
// connections pipelining 32 requests each. Everything runs in this
// process, server included, on the same cores: a quick check; the
// benchmark with the server and the proxy in processes of their own is
// BenchmarkProxy in package bench.
func BenchmarkPing(b *testing.B) {
	srv := fleartest.NewServer(b, fleartest.Options{Users: map[string]string{srvUser: srvPass}})
	pool := newPool(b, srv, 8, 32)
	p, err := proxy.New(pool, proxy.Options{Users: appUsers, MaxInFlight: 8*32 + 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	l, err := p.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("baseline=direct/callers=%d", callers), func(b *testing.B) {
			c := fleare.NewClient(srv.Host(), srv.Port(), fleare.Options{PoolSize: callers, Username: srvUser, Password: srvPass})
			pingLoad(b, c, callers)
		})
		b.Run(fmt.Sprintf("proxy/callers=%d", callers), func(b *testing.B) {
			host, port := splitAddr(b, l.Addr().String())
			c := fleare.NewClient(host, port, fleare.Options{PoolSize: callers, Username: appUser, Password: appPass})
			pingLoad(b, c, callers)
		})
	}
}

// pingLoad connects c and runs b.N PINGs over callers goroutines.
func pingLoad(b *testing.B, c *fleare.Client, callers int) {
	ctx := context.Background()
	defer c.Close(ctx)
	if err := c.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := c.Ping(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pings/s")
}

// BenchmarkIdleClient measures the memory an idle logged-in client costs
// the proxy: heap and goroutine stacks grown per client, 500 clients at a
// time. The clients' own sockets, in the same process, are counted too
// (bare net.Conns, a few hundred bytes each).
func BenchmarkIdleClient(b *testing.B) {
	const clients = 500
	p, err := proxy.New(&stub{}, proxy.Options{Users: appUsers, MaxClients: clients})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	l, err := p.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	auth := testkit.Frame(b, "auth", appUser, appPass)
	var perClient float64
	for b.Loop() {
		before := memInUse()
		conns := make([]net.Conn, clients)
		for i := range conns {
			conns[i] = idleLogin(b, l.Addr().String(), auth)
		}
		perClient = float64(memInUse()-before) / clients
		for _, nc := range conns {
			nc.Close()
		}
		deadline := time.Now().Add(10 * time.Second)
		for p.Stats().Clients != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(perClient, "B/client")
}

func idleLogin(b *testing.B, addr string, auth []byte) net.Conn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := nc.Write(auth); err != nil {
		b.Fatal(err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, int(hdr[0])<<24|int(hdr[1])<<16|int(hdr[2])<<8|int(hdr[3]))
	if _, err := io.ReadFull(nc, body); err != nil {
		b.Fatal(err)
	}
	return nc
}

// memInUse returns heap and stack in use after garbage collection.
func memInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
