package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

type serveOpts struct {
	file            string
	socket          string
	adminAddr       string
	metricsAddr     string // --metrics-addr: GET /metrics alone, no token
	tokenFile       string
	logFormat       string
	logLevel        string
	shutdownTimeout time.Duration
	secretsDirs     []string // --secrets-dir; default: the file's directory
	apiEnv          []string // --api-env: variable names the API may read
	apiEnvPrefixes  []string // --api-env-prefix
}

func newServeCmd(stderr io.Writer) *cobra.Command {
	var o serveOpts
	cmd := &cobra.Command{
		Use:   "serve [-f FILE]",
		Short: "Run the manager: keep pools matching FILE, and serve the admin API",
		Long: `serve runs fleare-manager in the foreground: it applies FILE, watches it and
applies each change (however the file is saved; also on SIGHUP), logs with
log/slog to stderr, and serves the admin API that the other commands use.

The front door: a target with a listen section gets a proxy on its
listen.address. Apps connect there with their unchanged Fleare client and
log in as one of listen.users (checked by serve, never by the server); their
requests go over the target's pool, and reloads resize, swap and repair it
while their connections stay up. flearectl status shows each proxy.

One source of truth: with -f, FILE is the configuration, and the admin API
refuses apply unless forced (flearectl apply --force), since the file's
next change, a SIGHUP or a restart would undo it. Without -f, serve starts
with no targets and takes its configuration from apply alone; nothing of
it is kept across a restart.

The admin API listens on a unix socket of mode 0600 (--socket; default
$XDG_RUNTIME_DIR/fleare-manager.sock, else fleare-manager.sock in a
directory of mode 0700 of your own, fleare-manager-<uid> in the temporary
directory, which serve makes, and refuses if someone else made it). It
refuses to start if another server listens there, and replaces a stale
socket file. With --admin-addr it also listens on that TCP address, which
must be a loopback address, and requires a bearer token there: read from
--token-file, or generated and written (mode 0600) to the default token
file, whose path is logged.

Configurations sent to the admin API (flearectl apply, diff) are trusted
less than FILE: their ${VAR} references may read only the variables
--api-env names or --api-env-prefix allows (none by default), and their
password_file only files under a --secrets-dir (default: FILE's
directory), links resolved.

A FILE that does not parse or validate at start: every problem is printed
and serve exits 1. Later, a bad edit is rejected, logged with every
problem, and the configuration in force stays. A warning is logged when
FILE holds a plaintext password and is readable by group or others.

--metrics-addr ADDR serves GET /metrics alone (Prometheus text format) on
ADDR, any interface, with no token, for remote scraping: the metrics hold
no secret (target names, endpoints, counts) and the listener offers no
control (every other path is 404). The admin API keeps its own /metrics.

SIGTERM or SIGINT: serve stops the admin API, stops every proxy listening
and drains its apps, closes every pool (requests in flight get each
target's drain timeout, bounded by --shutdown-timeout),
and exits 0. Whatever is stuck, serve exits by --shutdown-timeout after
the signal (exit 1 if the shutdown had not finished); a second signal
ends it at once.`,
		Example: `  flearectl serve -f /etc/fleare-manager/fleare.yaml
  flearectl serve -f fleare.yaml --log-format json --log-level debug
  flearectl serve -f fleare.yaml --admin-addr 127.0.0.1:9300 --token-file /run/secrets/admin-token
  flearectl serve -f fleare.yaml --metrics-addr :9301
  flearectl serve                  # no file: configurations come through flearectl apply
  flearectl serve -f /etc/fleare/fleare.yaml --secrets-dir /run/secrets --api-env-prefix FLEARE_`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), stderr, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "filename", "f", "", "the configuration file to apply and watch (default: none; apply sends configurations)")
	f.StringVar(&o.socket, "socket", admin.DefaultSocketPath(), "the admin API's unix socket")
	f.StringVar(&o.adminAddr, "admin-addr", "", "also serve the admin API on this loopback TCP address, with a token")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the token for --admin-addr (default: generate one)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "also serve GET /metrics alone, without a token, on this TCP address (host:port)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 15*time.Second, "bound on the shutdown: serve exits by then after SIGTERM, whatever is stuck")
	f.StringArrayVar(&o.secretsDirs, "secrets-dir", nil,
		"a directory configurations sent to the admin API may read password files from, links resolved (repeat for several; default: FILE's directory)")
	f.StringSliceVar(&o.apiEnv, "api-env", nil,
		"a variable configurations sent to the admin API may read with ${NAME} (repeat or separate with commas; default: none)")
	f.StringSliceVar(&o.apiEnvPrefixes, "api-env-prefix", nil,
		"let configurations sent to the admin API read the variables whose names start with this (repeat for several; default: none)")
	completeFlags(cmd, map[string][]string{"log-format": {"text", "json"}, "log-level": {"debug", "info", "warn", "error"}})
	markConfigFile(cmd)
	return cmd
}

// serve runs the manager until ctx ends.
func serve(ctx context.Context, stderr io.Writer, o serveOpts) error {
	logger, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	path := ""
	if o.file != "" {
		if path, err = filepath.Abs(o.file); err != nil {
			return usagef("%v", err)
		}
	}
	if o.shutdownTimeout <= 0 {
		return usagef("--shutdown-timeout must be positive")
	}
	stopWatchdog := watchdog(ctx, logger, o.shutdownTimeout, os.Exit)
	defer stopWatchdog()
	m, api, err := newRuntime(manager.Options{Logger: logger, ReloadOnSIGHUP: true}, apiOptions(o, path, logger))
	if err != nil {
		return err
	}
	s := &server{m: m, api: api, logger: logger, timeout: o.shutdownTimeout}
	defer s.shutdown(ctx)
	if err := s.listen(o); err != nil {
		return err
	}
	if path == "" {
		logger.Info("serving with no file: configurations come through the admin API (flearectl apply) " +
			"and are not kept across a restart")
		<-ctx.Done()
		logger.Info("shutting down", "bound", o.shutdownTimeout.String())
		return nil
	}
	if err := m.WatchFile(ctx, path); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while starting
		}
		return configError(path, err)
	}
	s.watchSecrets(path)
	logger.Info("serving", "config", path, "generation", m.Status().Generation)
	<-ctx.Done()
	logger.Info("shutting down", "bound", o.shutdownTimeout.String())
	return nil
}

// server is what serve runs: the manager and the admin API on its
// listeners.
type server struct {
	m       *manager.Manager
	api     *admin.Server
	logger  *slog.Logger
	timeout time.Duration
	https   []*http.Server
	wg      sync.WaitGroup // the http servers and the secrets watcher
}

// apiOptions are the admin API's: what configurations sent to it may read
// (see the trust model in the command's help).
func apiOptions(o serveOpts, file string, logger *slog.Logger) admin.Options {
	dirs := o.secretsDirs
	if len(dirs) == 0 && file != "" {
		dirs = []string{filepath.Dir(file)}
	}
	names := make(map[string]bool, len(o.apiEnv))
	for _, n := range o.apiEnv {
		names[n] = true
	}
	prefixes := o.apiEnvPrefixes
	return admin.Options{
		Logger:     logger,
		SecretDirs: dirs,
		AllowVar: func(name string) bool {
			return names[name] || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) })
		},
	}
}

// listen starts the admin API on the socket and, when asked, on TCP.
func (s *server) listen(o serveOpts) error {
	if filepath.Dir(o.socket) == admin.DefaultDir() {
		if err := admin.EnsurePrivateDir(admin.DefaultDir()); err != nil {
			return err
		}
	}
	ln, err := admin.ListenUnix(o.socket)
	if err != nil {
		return err
	}
	s.start(ln, s.api)
	s.logger.Info("admin API listening", "socket", ln.Addr().String())
	if err := s.listenMetrics(o.metricsAddr); err != nil {
		return err
	}
	if o.adminAddr == "" {
		return nil
	}
	tl, err := admin.ListenTCP(o.adminAddr)
	if err != nil {
		return usagef("--admin-addr: %v", err)
	}
	token, err := s.token(o.tokenFile)
	if err != nil {
		tl.Close()
		return err
	}
	s.start(tl, admin.RequireToken(token, s.api))
	s.logger.Info("admin API listening", "addr", tl.Addr().String())
	return nil
}

// listenMetrics serves GET /metrics, and nothing else, on addr without a
// token, when addr is set.
func (s *server) listenMetrics(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return usagef("--metrics-addr: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.api) // the API's own /metrics route
	s.start(ln, mux)
	s.logger.Info("metrics listening", "addr", ln.Addr().String())
	return nil
}

// token reads the token file, or generates a token and writes it to the
// default token file.
func (s *server) token(file string) (string, error) {
	if file != "" {
		tok, err := admin.ReadTokenFile(file)
		if err != nil {
			return "", usagef("--token-file: %v", err)
		}
		return tok, nil
	}
	tok := admin.NewToken()
	path := admin.DefaultTokenPath()
	if err := admin.EnsurePrivateDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	if err := admin.WriteTokenFile(path, tok); err != nil {
		return "", err
	}
	s.logger.Info("admin API token generated", "token_file", path)
	return tok, nil
}

// start serves h on ln, with the API's limits (connections, header and
// idle timeouts), in a goroutine that shutdown joins.
func (s *server) start(ln net.Listener, h http.Handler) {
	hs := admin.NewHTTPServer(h, slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn))
	hs.RegisterOnShutdown(s.api.Close) // ends event streams
	s.https = append(s.https, hs)
	ln = admin.LimitListener(ln, admin.DefaultMaxConns)
	s.wg.Go(func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("admin API stopped", "error", err)
		}
	})
}

// watchdog ends the process with exit, status 1, once timeout has passed
// after ctx ended (the signal to stop), in case the shutdown is stuck on
// something that ignores its deadline; the graceful shutdown is given all
// but a tenth of that. The returned func disarms it.
func watchdog(ctx context.Context, logger *slog.Logger, timeout time.Duration, exit func(int)) func() {
	var mu sync.Mutex
	var timer *time.Timer
	disarmed := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if disarmed {
			return
		}
		timer = time.AfterFunc(timeout, func() {
			logger.Error("the shutdown did not finish within --shutdown-timeout; exiting now", "bound", timeout.String())
			exit(exitFail)
		})
	})
	return func() {
		stop()
		mu.Lock()
		defer mu.Unlock()
		disarmed = true
		if timer != nil {
			timer.Stop()
		}
	}
}

// shutdown stops the admin API and closes the manager, within the bound.
// The listeners close (removing the socket file) at once; requests in
// progress get the bound.
func (s *server) shutdown(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout-s.timeout/10)
	defer cancel()
	var stopping sync.WaitGroup
	for _, hs := range s.https {
		stopping.Go(func() {
			if err := hs.Shutdown(ctx); err != nil {
				hs.Close()
			}
		})
	}
	s.api.Close()
	if err := s.m.Close(ctx); err != nil {
		s.logger.Warn("pools closed before their drain ended", "error", err)
	}
	stopping.Wait()
	s.wg.Wait()
}

// watchSecrets warns about plaintext passwords readable by others now, and
// again after each reload of the file.
func (s *server) watchSecrets(path string) {
	warnExposedSecrets(s.logger, path, s.m.Config())
	events, cancel := s.m.Subscribe()
	s.wg.Go(func() {
		defer cancel()
		for e := range events { // closed when the manager closes
			if e.Type == manager.EventConfigApplied && e.Source == path {
				warnExposedSecrets(s.logger, path, s.m.Config())
			}
		}
	})
}

// newLogger returns a slog logger writing to w.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, ho)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

// configError is the error for a configuration file that does not load:
// exit 1, every problem on its own line.
func configError(path string, err error) error {
	if path == admin.StdinFile {
		path = stdinName
	}
	if len(spec.Errors(err)) == 0 {
		return &exitError{code: exitFail, err: err}
	}
	// Count and Lines include the problems past spec.MaxProblems: the
	// total, and a last line saying how many were not listed.
	n := spec.Count(err)
	var b strings.Builder
	fmt.Fprintf(&b, "%s is invalid (%d %s):", path, n, plural(n, "problem", "problems"))
	for _, line := range spec.Lines(err) {
		b.WriteString("\n")
		b.WriteString(line)
	}
	return &exitError{code: exitFail, err: errors.New(b.String())}
}
