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
//	POST /v1/apply?file=F[&dry_run=1][&force=1][&expect_generation=N]
//	                                 body: a configuration file's bytes;
//	                                 parse, plan and apply it (or only plan
//	                                 it): an ApplyResult. Header If-Match:
//	                                 "HASH" or * (a precondition)
//	POST /v1/diff?file=F             the plan only, as a dry run
//	GET  /v1/events[?follow=1]       the last events (Options.History), as
//	                                 newline-delimited JSON; with follow,
//	                                 then each new event as it happens (a
//	                                 reader that falls more than History
//	                                 events behind misses the oldest); an
//	                                 event is in it before the request that
//	                                 caused it is answered
//	POST /v1/targets/NAME/pause[?timeout=D]
//	POST /v1/targets/NAME/resume
//	POST /v1/targets/NAME/reconnect[?timeout=D]
//	                                 the operator controls (see control.go
//	                                 and manager.Manager.Pause): a
//	                                 ControlReply; 404 for an unknown target
//
// The configuration sent to apply and diff is parsed by the server under
// the name F, an absolute path, so errors carry the user's file name and a
// relative password_file resolves against F's directory on the server's
// host. A configuration that does not parse or validate gets 400 with an
// ErrorReply listing its problems as file:line:col: ... (the first
// spec.MaxProblems, then a line counting the rest), and changes nothing.
// Bodies larger than Options.MaxBodyBytes (4 MiB) get 413. Every error
// reply is an ErrorReply. No reply ever holds a password. F may be
// StdinFile ("-"): the configuration is then named <stdin>.
//
// # One source of truth
//
// While the manager watches a file, the file is the configuration: an apply
// is refused with 409 Conflict (before its body is read) unless it carries
// force=1, and a forced one lasts until the file's next change, SIGHUP or a
// restart. GET /v1/status and /v1/config carry the configuration's hash as
// their ETag; an apply with If-Match (that hash, or *) or
// expect_generation=N made against a configuration that has changed since
// gets 412 Precondition Failed, with the hash in force as its ETag. Refused
// applies change and record nothing; dry runs and diffs are never refused.
//
// # JSON conventions
//
// Replies follow manager.FormatVersion (1), which status and apply replies
// carry as "format_version": snake_case keys, durations as Go duration
// strings ("1.5ms"), times in RFC 3339. The path's /v1 is the API's
// version: within it, routes and keys are added, never renamed or removed.
//
// # Trust
//
// Whoever can reach the API can change the manager's targets, and so send
// credentials to any host. What the API does not give them is the rest of
// the manager's host: a configuration sent to it reads only the variables
// Options.AllowVar allows (none by default) and only password files under
// Options.SecretDirs (none by default), links resolved; every file it
// reads is a regular file, bounded, read without blocking. An error never
// quotes a value that came from a variable.
//
// # Limits
//
// Serve the API with NewHTTPServer on a listener wrapped by LimitListener:
// at most DefaultMaxConns (64) connections per listener, headers within
// HeaderTimeout (5 s) and MaxHeaderBytes (16 KiB), idle connections closed
// after IdleTimeout (30 s), a request refused its token closed after its
// 401, bodies read within DefaultBodyTimeout (10 s), at most
// Options.MaxParses (2) configurations parsed at once, at most
// spec.MaxTargets targets in one, and Options.History (256) events kept.
//
// # Access
//
// ListenUnix makes a unix socket of mode 0600, the default transport: only
// its owner (and root) can connect. Its default place is DefaultDir: the
// user's $XDG_RUNTIME_DIR, or else a directory of mode 0700 of the user's
// own in the temporary directory (EnsurePrivateDir makes and checks it).
// The Client refuses a socket that another user could have made or could
// replace (CheckSocket). ListenTCP accepts only loopback addresses; serve
// the API there through RequireToken, which requires a bearer token and
// compares it in constant time.
//
//	srv := admin.NewServer(m, admin.Options{Logger: logger})
//	defer srv.Close()
//	if err := admin.EnsurePrivateDir(admin.DefaultDir()); err != nil {
//		return err // another user made it first
//	}
//	ln, err := admin.ListenUnix(admin.DefaultSocketPath())
//	if err != nil {
//		return err // admin.ErrInUse: another manager serves there
//	}
//	hs := admin.NewHTTPServer(srv, nil)
//	hs.RegisterOnShutdown(srv.Close) // end event streams on Shutdown
//	go hs.Serve(admin.LimitListener(ln, admin.DefaultMaxConns))
//
// and a client:
//
//	c := admin.NewClient(admin.ClientOptions{}) // the default socket
//	st, err := c.Status(ctx)
//
// Server.Handle adds routes (such as GET /metrics) behind the same
// listeners and token.
package admin
