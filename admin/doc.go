// Package admin is the admin API of a fleare-manager process: an HTTP+JSON
// API over a *manager.Manager, the listeners it is served on, and a Go
// client for it (which flearectl uses).
//
// # Endpoints
//
//	GET  /v1/status                  the manager's Status, as JSON
//	GET  /v1/config                  the configuration in force, as YAML
//	                                 (spec.Marshal: passwords masked);
//	                                 404 before the first one
//	POST /v1/apply?file=F[&dry_run=1] body: a configuration file's bytes;
//	                                 parse, plan and apply it (or only plan
//	                                 it): an ApplyResult
//	POST /v1/diff?file=F             the plan only, as a dry run
//	GET  /v1/events[?follow=1]       the last events (Options.History), as
//	                                 newline-delimited JSON; with follow,
//	                                 then each new event as it happens (a
//	                                 reader that falls more than History
//	                                 events behind misses the oldest)
//
// The configuration sent to apply and diff is parsed by the server with
// spec.Parse under the name F, an absolute path, so errors carry the user's
// file name and a relative password_file resolves against F's directory
// on the server's host. ${VAR} references expand in the server's
// environment, as for the file the manager watches. A configuration that
// does not parse or validate gets 400 with an ErrorReply listing every
// problem as file:line:col: ..., and changes nothing. Bodies larger than
// Options.MaxBodyBytes (4 MiB) get 413. Every error reply is an ErrorReply.
// No reply ever holds a password.
//
// # Access
//
// ListenUnix makes a unix socket of mode 0600, the default transport: only
// its owner (and root) can connect. ListenTCP accepts only loopback
// addresses; serve the API there through RequireToken, which requires a
// bearer token and compares it in constant time.
//
//	srv := admin.NewServer(m, admin.Options{Logger: logger})
//	defer srv.Close()
//	ln, err := admin.ListenUnix(admin.DefaultSocketPath())
//	if err != nil {
//		return err // admin.ErrInUse: another manager serves there
//	}
//	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
//	hs.RegisterOnShutdown(srv.Close) // end event streams on Shutdown
//	go hs.Serve(ln)
//
// and a client:
//
//	c := admin.NewClient(admin.ClientOptions{}) // the default socket
//	st, err := c.Status(ctx)
//
// Server.Handle adds routes (such as GET /metrics) behind the same
// listeners and token.
package admin
