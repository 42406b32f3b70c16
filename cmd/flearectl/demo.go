package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
)

// demoRecent is how many event lines the terminal dashboard shows.
const demoRecent = 12

// demoPingEvery is how often the demo pings each target, so that its
// counters move.
const demoPingEvery = 200 * time.Millisecond

type demoOpts struct {
	config   string
	duration time.Duration
	interval time.Duration
}

func newDemoCmd(stdout io.Writer) *cobra.Command {
	var o demoOpts
	cmd := &cobra.Command{
		Use:   "demo [--config PATH] [--duration D]",
		Short: "Watch hot reload work, with two in-process Fleare servers",
		Long: `demo needs no Fleare server: it starts two Fleare-compatible servers in this
process on free loopback ports (user "app", a random password generated
for this run and never shown), writes a configuration for them, and runs
the manager on it with hot reload and its admin API. It prints the events
as they happen and a status table every --interval, and tells you which
file to edit: change a pool size to watch a resize, or a port to the other
server's to watch an endpoint swap (make-before-break).

Each target also gets a proxy listener on a free loopback port: the
banner prints a line "listen <target> <host:port>" for each, and the user
name and file holding the password (another random one) that apps log in
with. Point any Fleare client at it: a resize or an endpoint swap happens
under its traffic while its connection stays up.

The configuration goes to a temporary directory, or to --config PATH
(which must not exist yet, and is kept afterwards). The password is in a
password_file in the temporary directory, so the configuration holds no
secret. The admin API listens on a socket in the temporary directory:
the banner prints the flearectl status command that reaches it.

On a terminal the screen is redrawn in place; otherwise events are printed
as lines, and the table whenever it changes. Ctrl-C, or the end of
--duration, stops the demo: servers stopped, temporary directory removed.`,
		Example: `  flearectl demo
  go run ./cmd/flearectl demo
  flearectl demo --config ./demo.yaml --duration 5m`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.interval <= 0 || o.duration < 0 {
				return usagef("--interval must be positive and --duration not negative")
			}
			return runDemo(cmd.Context(), stdout, o)
		},
	}
	cmd.Flags().StringVar(&o.config, "config", "", "write the demo configuration here and keep it (default: a temporary file)")
	cmd.Flags().DurationVar(&o.duration, "duration", 0, "stop after this long (default: until interrupted)")
	cmd.Flags().DurationVar(&o.interval, "interval", 2*time.Second, "how often the status table is refreshed")
	return cmd
}

// demo is everything a demo runs.
type demo struct {
	dir     string // temporary directory, removed at the end
	cfgPath string
	pwFile  string
	appUser string // the apps' login to the demo's proxies
	appFile string // the file holding its password
	sock    string
	servers []*fleartest.Server
	m       *manager.Manager
	api     *admin.Server
	hs      *http.Server
	wg      sync.WaitGroup // the admin API server and the pinger
}

func runDemo(ctx context.Context, w io.Writer, o demoOpts) error {
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	d := &demo{}
	defer d.stop(w, o.config != "")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before stop: the pinger ends first
	if err := d.start(o.config); err != nil {
		return err
	}
	events, unsubscribe := d.m.Subscribe()
	defer unsubscribe()
	if err := d.m.WatchFile(ctx, d.cfgPath); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("demo: %w", err)
	}
	d.wg.Go(func() { d.ping(ctx) })
	d.show(ctx, w, events, o.interval)
	return nil
}

// start starts the servers, writes the files and starts the manager and
// its admin API. On error, stop cleans up what was started.
func (d *demo) start(config string) error {
	var err error
	if d.dir, err = os.MkdirTemp("", "flearectl-demo-"); err != nil {
		return err
	}
	password := rand.Text()
	for range 2 {
		s, err := fleartest.Start(fleartest.Options{Users: map[string]string{"app": password}, SerialAccept: true})
		if err != nil {
			return err
		}
		d.servers = append(d.servers, s)
	}
	d.pwFile = filepath.Join(d.dir, "password")
	if err := os.WriteFile(d.pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	// The apps' password: another random one, in a private file; only its
	// path is printed.
	d.appUser, d.appFile = "demo", filepath.Join(d.dir, "app-password")
	if err := os.WriteFile(d.appFile, []byte(rand.Text()+"\n"), 0o600); err != nil {
		return err
	}
	d.cfgPath = config
	if d.cfgPath == "" {
		d.cfgPath = filepath.Join(d.dir, "fleare.yaml")
	}
	if err := d.writeConfig(); err != nil {
		return err
	}
	if d.m, d.api, err = newRuntime(manager.Options{PollInterval: 500 * time.Millisecond}, admin.Options{}); err != nil {
		return err
	}
	d.sock = filepath.Join(d.dir, "admin.sock")
	ln, err := admin.ListenUnix(d.sock)
	if err != nil {
		return err
	}
	d.hs = &http.Server{Handler: d.api, ReadHeaderTimeout: 10 * time.Second}
	d.hs.RegisterOnShutdown(d.api.Close)
	d.wg.Go(func() { _ = d.hs.Serve(ln) })
	return nil
}

// writeConfig writes the demo configuration, refusing to replace a file.
func (d *demo) writeConfig() error {
	f, err := os.OpenFile(d.cfgPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return usagef("--config %s: the file exists; the demo writes a new one (remove it or choose another path)", d.cfgPath)
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, demoConfig, strings.ReplaceAll(d.pwFile, "$", "$$"), d.servers[0].Port(), d.servers[1].Port(),
		d.appUser, strings.ReplaceAll(d.appFile, "$", "$$"))
	return errors.Join(err, f.Close())
}

const demoConfig = `# fleare-manager demo configuration. Edit it and save: the manager applies
# each change at once; a file that does not parse or validate changes nothing.
#   resize:        set targets.cache.pool.size to 5
#   endpoint swap: set targets.cache.port to %[3]d (server B)
version: 1
defaults:
  username: app
  # The demo's random password, in a file removed when the demo ends.
  password_file: %[1]s
  timeouts: {connect: 2s, request: 2s, drain: 2s}
  retry: {max_retries: 1, interval: 250ms}
  listen:
    # Who may log in to the targets' proxies: apps connect to a target's
    # listen address with any Fleare client, as to a Fleare server.
    users:
      - {username: %[4]s, password_file: %[5]s}
targets:
  cache:
    host: 127.0.0.1
    port: %[2]d
    pool:
      size: 2
    listen:
      address: 127.0.0.1:0          # a free port, printed by the demo
  sessions:
    host: 127.0.0.1
    port: %[3]d
    pool:
      size: 3
    listen:
      address: 127.0.0.1:0
`

// stop stops everything start started and removes the temporary
// directory.
func (d *demo) stop(w io.Writer, keepConfig bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d.hs != nil {
		if err := d.hs.Shutdown(ctx); err != nil {
			d.hs.Close()
		}
	}
	if d.api != nil {
		d.api.Close()
	}
	if d.m != nil {
		_ = d.m.Close(ctx)
	}
	d.wg.Wait()
	for _, s := range d.servers {
		s.Close()
	}
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
	}
	if d.m != nil {
		fmt.Fprintln(w, "\nDemo stopped: servers closed, temporary files removed.")
		if keepConfig {
			fmt.Fprintf(w, "The configuration stays at %s (its password_file is gone).\n", d.cfgPath)
		}
	}
}

// ping pings every configured target every demoPingEvery until ctx ends,
// through the manager's clients and through each target's proxy, as an
// app would, so that the counters move.
func (d *demo) ping(ctx context.Context) {
	apps := &demoApps{d: d}
	defer apps.close()
	clients := make(map[string]*manager.Client)
	t := time.NewTicker(demoPingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cfg := d.m.Config()
		if cfg == nil {
			continue
		}
		for _, tg := range cfg.Targets {
			c := clients[tg.Name]
			if c == nil {
				c = d.m.Client(tg.Name)
				clients[tg.Name] = c
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			_ = c.Ping(pctx) // failures show in the ERRORS column
			apps.ping(pctx, tg.Name)
			cancel()
		}
	}
}

// show prints events and the status until ctx ends: on a terminal, a
// dashboard redrawn every interval; elsewhere, event lines as they come
// and the table when it changes.
func (d *demo) show(ctx context.Context, w io.Writer, events <-chan manager.Event, interval time.Duration) {
	b := &dashboard{d: d, w: w, tty: isTerminal(w)}
	if !b.tty {
		d.banner(w)
	}
	for pending := true; pending; { // what happened while the file was first applied
		select {
		case e := <-events:
			b.event(e)
		default:
			pending = false
		}
	}
	b.draw()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			b.event(e)
		case <-tick.C:
			b.draw()
		}
	}
}

// dashboard is what the demo shows.
type dashboard struct {
	d       *demo
	w       io.Writer
	tty     bool     // redraw the screen in place
	recent  []string // the last event lines, on a terminal
	lastKey string   // tableKey of the table last printed, elsewhere
}

// event shows e: at once as a line, or on a terminal at the next redraw.
func (b *dashboard) event(e manager.Event) {
	if e.Type == manager.EventStateChanged {
		return // connecting, connected and disconnected say it already
	}
	lines := strings.Split(e.String(), "\n")
	if !b.tty {
		fmt.Fprintln(b.w, strings.Join(lines, "\n"))
		return
	}
	b.recent = append(b.recent, lines...)
	b.recent = b.recent[max(0, len(b.recent)-demoRecent):]
}

// draw redraws the terminal, or prints the table if it changed.
func (b *dashboard) draw() {
	st := b.d.m.Status()
	var buf bytes.Buffer
	switch key := tableKey(st); {
	case b.tty:
		buf.WriteString(clearScreen)
		b.d.banner(&buf)
		statusTable(&buf, st, time.Now())
		proxyTable(&buf, st)
		fmt.Fprintf(&buf, "\nRecent events:\n%s\n", strings.Join(b.recent, "\n"))
	case key != b.lastKey:
		b.lastKey = key
		fmt.Fprintf(&buf, "\n-- status at %s --\n", time.Now().Format("15:04:05"))
		statusTable(&buf, st, time.Now())
		proxyTable(&buf, st)
		fmt.Fprintln(&buf)
	}
	_, _ = b.w.Write(buf.Bytes())
}

// tableKey sums up what the non-terminal table shows, but for counters and
// ages, to print it only when something changed.
func tableKey(st manager.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", st.Generation)
	for _, t := range st.Targets {
		fmt.Fprintf(&b, "|%s %s %s %d/%d %d", t.Name, t.Addr, t.State, t.Open, t.Desired, t.Waiting)
		if p := t.Pending; p != nil {
			fmt.Fprintf(&b, " → %s %s %d", p.Addr, p.State, p.Open)
		}
		if p := t.Proxy; p != nil {
			fmt.Fprintf(&b, " proxy %s %d", p.Listening, p.Clients)
		}
	}
	return b.String()
}

// banner says what runs and what to try.
func (d *demo) banner(w io.Writer) {
	a, b := d.servers[0], d.servers[1]
	fmt.Fprintf(w, `fleare-manager demo: two in-process Fleare servers (user "app", a random password in a password_file)
  server A   %s   (target "cache")
  server B   %s   (target "sessions")
  config     %s
  status     flearectl status --socket %s
             (from the source tree: go run ./cmd/flearectl status --socket %[4]s)

Edit the config file and save it, then watch the events:
  resize          set targets.cache.pool.size to 5
  endpoint swap   set targets.cache.port to %d (server B): a new pool fills, then the old one drains
  bad edit        break the YAML: the change is rejected, and the pools keep running
Ctrl-C stops the demo.

`, a.Addr(), b.Addr(), d.cfgPath, d.sock, b.Port())
	d.listenBanner(w)
}
