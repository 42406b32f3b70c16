// Package manager is fleare-manager's runtime: it keeps one connection pool
// per configured Fleare target, and makes the pools match each new
// configuration, given through Apply or read from a watched file.
//
// Each configuration is diffed against what runs (package reconcile) and the
// plan executed: new targets get a pool; a changed pool size or setting is
// applied in place; a changed endpoint or credential opens a new pool,
// switches to it once it is full, and drains the old one (make-before-break);
// removed targets drain and close. A target that cannot connect stays
// configured and keeps retrying with backoff. A file that does not load or
// validate changes nothing.
//
// One goroutine, the reload loop, applies configurations: Apply, the watched
// file and SIGHUP are requests to it, answered in turn and recorded the same
// way (applied, partial, rejected, or unchanged when the plan is empty, which
// is logged in one line and emits no config.applied). Another writes the
// log, so that no request waits for it.
//
// One source of truth: while a file is watched, it is the configuration, and
// Apply is refused (ErrFileWins) unless forced with ApplyWith; ApplyWith also
// takes preconditions on the generation and hash in force (ErrStale when
// they no longer hold). See ApplyOptions.
//
// Applications call targets through a Client, got once by name and kept: it
// follows the target across resizes and replaces.
//
//	m, err := manager.New(manager.Options{Logger: slog.Default()})
//	if err != nil {
//		return err
//	}
//	defer m.Close(context.Background())
//	if err := m.WatchFile(ctx, "/etc/fleare/targets.yaml"); err != nil {
//		return err // the file is unreadable or invalid; every problem is listed
//	}
//	cache := m.Client("cache-primary")
//	v, err := cache.Get(ctx, "user:42")
//
// A target with a listen section (spec.Listen) also gets a proxy
// (package proxy) whose backend is the target's Client: applications
// connect to its address with any Fleare client and stay connected across
// every reload. After each plan the proxies follow their listen sections
// (users and limits through proxy.Update, a new address opened before the
// old one is closed); before it, the proxies of removed targets stop
// listening and drain their apps within timeouts.drain while the pool still
// serves them; Close drains every proxy before the pools. ListenAddr gives
// the address a proxy accepts on; Status has a ProxyStatus per target; the
// proxy.* events report refused logins, limit hits and dropped apps.
//
// Everything that happens is published as an Event (Subscribe), and Status
// gives a snapshot of every target's pool (its fleare.Stats) and of the last
// reload.
package manager
