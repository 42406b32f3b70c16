package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/spec"
)

// listenBanner says where apps connect to each demo target, and how they
// log in: the user name and the file holding the password, never the
// password itself.
func (d *demo) listenBanner(w io.Writer) {
	fmt.Fprintln(w, "Apps connect through the manager's proxy, with any Fleare client as to a Fleare server:")
	for _, t := range d.m.Status().Targets {
		if t.Proxy != nil && t.Proxy.Listening != "" {
			fmt.Fprintf(w, "listen %s %s\n", t.Name, t.Proxy.Listening)
		}
	}
	fmt.Fprintf(w, "  log in as user %q with the password in %s\n", d.appUser, d.appFile)
	fmt.Fprintln(w, "  (a resize or an endpoint swap happens under their traffic: their connections stay up)")
	fmt.Fprintln(w)
}

// demoApps are the demo's own apps: one connection through each target's
// proxy, opened when the proxy listens.
type demoApps struct {
	d    *demo
	pw   string
	conn map[string]*fleare.Client // by target
}

// ping sends a PING through target name's proxy, connecting first.
// Failures show in the proxies table.
func (a *demoApps) ping(ctx context.Context, name string) {
	c := a.conn[name]
	if c == nil {
		addr := a.d.m.ListenAddr(name)
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return // not listening (yet)
		}
		port, _ := strconv.Atoi(p)
		if a.pw == "" {
			pw, err := (spec.User{Username: a.d.appUser, PasswordFile: a.d.appFile}).ResolvePassword()
			if err != nil {
				return
			}
			a.pw = pw.Reveal()
		}
		c = fleare.NewClient(host, port, fleare.Options{PoolSize: 1, Username: a.d.appUser, Password: a.pw, MaxRetries: 1})
		if err := c.Connect(ctx); err != nil {
			_ = c.Close(context.Background())
			return // tried again at the next tick
		}
		if a.conn == nil {
			a.conn = make(map[string]*fleare.Client)
		}
		a.conn[name] = c
	}
	_ = c.Ping(ctx)
}

func (a *demoApps) close() {
	for _, c := range a.conn {
		_ = c.Close(context.Background())
	}
}
