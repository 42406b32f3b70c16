package proxy_test

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/proxy"
)

// An app logs in to the proxy with its own credentials and uses it as it
// would the server; the proxy carries its requests over a pool of two
// connections.
func Example() {
	ctx := context.Background()
	srv, err := fleartest.Start(fleartest.Options{Users: map[string]string{"pool": "server-pw"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	pool := fleare.NewClient(srv.Host(), srv.Port(), fleare.Options{PoolSize: 2, Username: "pool", Password: "server-pw"})
	defer pool.Close(ctx)
	if err := pool.Connect(ctx); err != nil {
		panic(err)
	}

	p, err := proxy.New(pool, proxy.Options{Users: []proxy.User{{Username: "web", Password: "app-pw"}}})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	l, err := p.Listen("127.0.0.1:0")
	if err != nil {
		panic(err)
	}

	host, port, _ := net.SplitHostPort(l.Addr().String())
	n, _ := strconv.Atoi(port)
	app := fleare.NewClient(host, n, fleare.Options{PoolSize: 4, Username: "web", Password: "app-pw"})
	defer app.Close(ctx)
	if err := app.Connect(ctx); err != nil {
		panic(err)
	}
	if err := app.Set(ctx, "greeting", "hello"); err != nil {
		panic(err)
	}
	v, err := app.Get(ctx, "greeting")
	if err != nil {
		panic(err)
	}
	fmt.Println(v)
	fmt.Println("app connections:", p.Stats().Clients, "server connections:", srv.Conns())
	// Output:
	// hello
	// app connections: 4 server connections: 2
}
