package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/manager"
)

// A manager's admin API on a unix socket, and a client sending it a
// configuration, first with an error in it.
func Example() {
	ctx := context.Background()
	m, err := manager.New(manager.Options{})
	if err != nil {
		panic(err)
	}
	defer m.Close(ctx)
	api := admin.NewServer(m, admin.Options{})

	dir, err := os.MkdirTemp("", "admin-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "admin.sock")
	ln, err := admin.ListenUnix(sock) // mode 0600
	if err != nil {
		panic(err)
	}
	hs := &http.Server{Handler: api}
	hs.RegisterOnShutdown(api.Close)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	defer func() {
		_ = hs.Shutdown(ctx)
		<-done
	}()

	c := admin.NewClient(admin.ClientOptions{Socket: sock})
	defer c.Close()
	_, err = c.Apply(ctx, "/etc/fleare/targets.yaml", []byte("version: 1\ntargets:\n  cache: {port: 9219}\n"), false)
	fmt.Println(err)
	for _, line := range err.(*admin.APIError).Errors {
		fmt.Println(line)
	}

	res, err := c.Apply(ctx, "/etc/fleare/targets.yaml", []byte("version: 1\ntargets: {}\n"), false)
	if err != nil {
		panic(err)
	}
	fmt.Print(res.Plan)
	st, err := c.Status(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("source:", st.Source, "targets:", len(st.Targets))
	// Output:
	// admin: 400 Bad Request: configuration rejected (1 problem(s)); nothing changed
	// /etc/fleare/targets.yaml:3:3: target "cache": host: missing; every target needs a host name or IP address
	// No changes: the running targets match the configuration.
	// source: api targets: 0
}
