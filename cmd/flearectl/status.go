package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/manager"
)

// clearScreen moves the cursor home and clears the terminal.
const clearScreen = "\033[H\033[2J"

func newStatusCmd(stdout io.Writer) *cobra.Command {
	var (
		c        conn
		output   string
		watch    bool
		check    bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status [NAME...] [-o table|json|yaml] [--watch] [--check]",
		Short: "Show the running manager's targets and last reload",
		Long: `status shows the running manager: where its configuration came from (and,
when it follows a file, that the file is the source of truth), its
generation and hash, the last reload's result (and every problem, when the
file was rejected), then one row per target:

  NAME         the target's name
  ENDPOINT     host:port of the pool serving calls
  STATE        the pool's state: connecting, connected, error...;
               ",paused" while flearectl pause holds its requests
  POOL         connections open/desired
  IN-USE       connections lent to callers
  WAITING      callers waiting for a connection
  REQUESTS     requests sent by the serving pool
  ERRORS       calls failed by the serving pool
  LAST-CHANGE  when the target's configuration last changed

Replacements still filling, pools draining and each target's last error
follow the table. With NAME, only those targets are shown (in JSON and
YAML too, where the manager's own fields stay). -o json and -o yaml print
everything the manager reports (see the README's JSON conventions).
With --watch, status is printed again every --interval until interrupted.

Exit codes: 0; 1 a NAME is not configured, or with --check, a target
shown is in state error; 2 usage error or the manager unreachable.`,
		Example: `  flearectl status
  flearectl status cache
  flearectl status --check || alert "a target is down"
  flearectl status -o json | jq '.targets[] | select(.state != "connected")'
  flearectl status --watch --interval 1s`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeTargets(&c),
		RunE: func(cmd *cobra.Command, names []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			if interval <= 0 {
				return usagef("--interval must be positive")
			}
			if watch && check {
				return usagef("--check answers once: it does not go with --watch")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			tty := isTerminal(stdout)
			for {
				ctx, cancel := c.withTimeout(cmd.Context())
				st, err := cl.Status(ctx)
				cancel()
				if err != nil {
					if watch && cmd.Context().Err() != nil {
						return nil
					}
					return err
				}
				st, missing := selectTargets(st, names)
				var buf bytes.Buffer
				if err := printStatus(&buf, st, output, time.Now(), len(names) > 0); err != nil {
					return err
				}
				if watch && tty {
					io.WriteString(stdout, clearScreen)
				}
				if _, err := stdout.Write(buf.Bytes()); err != nil {
					return err
				}
				if !watch {
					if missing != nil {
						return missing
					}
					if check {
						return checkTargets(st)
					}
					return nil
				}
				if !sleep(cmd.Context(), interval) {
					return nil
				}
				if !tty {
					fmt.Fprintln(stdout)
				}
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "print the status again every --interval until interrupted")
	cmd.Flags().BoolVar(&check, "check", false, "exit 1 if a target shown is in state error")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "how often --watch prints the status")
	completeFlags(cmd, map[string][]string{"output": {"table", "json", "yaml"}})
	c.addFlags(cmd, 30*time.Second)
	return cmd
}

// selectTargets keeps the targets of st named in names (all of them if
// names is empty), in the order of names, and returns an error (exit 1)
// naming those that are not configured.
func selectTargets(st manager.Status, names []string) (manager.Status, error) {
	if len(names) == 0 {
		return st, nil
	}
	byName := make(map[string]manager.TargetStatus, len(st.Targets))
	all := make([]string, 0, len(st.Targets))
	for _, t := range st.Targets {
		byName[t.Name] = t
		all = append(all, t.Name)
	}
	var kept []manager.TargetStatus
	var problems []string
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		t, ok := byName[n]
		switch {
		case seen[n]:
		case ok:
			kept = append(kept, t)
		default:
			problems = append(problems, fmt.Sprintf("no target %q in the configuration in force%s", n, didYouMean(n, all)))
		}
		seen[n] = true
	}
	st.Targets = kept
	var draining []manager.DrainingPool
	for _, d := range st.Draining {
		if seen[d.Target] {
			draining = append(draining, d)
		}
	}
	st.Draining = draining
	if len(problems) > 0 {
		if len(all) > 0 {
			problems = append(problems, "targets: "+strings.Join(all, ", "))
		}
		return st, &exitError{code: exitFail, err: errors.New(strings.Join(problems, "\n"))}
	}
	return st, nil
}

// didYouMean suggests the name of all closest to n, within two edits.
func didYouMean(n string, all []string) string {
	best, bestD := "", 3
	for _, a := range all {
		if d := levenshtein(n, a); d < bestD {
			best, bestD = a, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkTargets returns an error (exit 1) naming the targets of st in state
// error.
func checkTargets(st manager.Status) error {
	var bad []string
	for _, t := range st.Targets {
		if t.State == fleare.StateError {
			bad = append(bad, t.Name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return &exitError{code: exitFail, err: fmt.Errorf("%d target(s) in state error: %s", len(bad), strings.Join(bad, ", "))}
}

// sleep waits for d, and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// printStatus writes st in the given output format; targetsOnly leaves the
// manager's header out of the table format.
func printStatus(w io.Writer, st manager.Status, output string, now time.Time, targetsOnly bool) error {
	switch output {
	case "json":
		return writeJSON(w, st)
	case "yaml":
		data, err := json.Marshal(st)
		if err != nil {
			return err
		}
		return writeYAML(w, data)
	}
	if !targetsOnly {
		statusHeader(w, st, now)
		fmt.Fprintln(w)
	}
	statusTable(w, st, now)
	proxyTable(w, st)
	statusDetails(w, st, now)
	return nil
}

// statusHeader writes where the configuration came from and the last
// reload.
func statusHeader(w io.Writer, st manager.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	source := st.Source
	switch {
	case source == "":
		source = "none yet"
	case source == manager.SourceAPI && st.Watching != "":
		source = "applied through the admin API with --force"
	case source == manager.SourceAPI:
		source = "applied through the admin API (not kept across a restart)"
	case source == st.Watching:
		source += " (watched: the file is the source of truth; apply needs --force)"
	}
	fmt.Fprintf(tw, "Config:\t%s\n", source)
	if st.Watching != "" && st.Watching != st.Source {
		fmt.Fprintf(tw, "Watching:\t%s (the file wins: its next change, SIGHUP or a restart applies it)\n", st.Watching)
	}
	fmt.Fprintf(tw, "Generation:\t%d\n", st.Generation)
	if st.Hash != "" {
		fmt.Fprintf(tw, "Hash:\t%s\n", st.Hash)
	}
	if r := st.LastReload; r != nil {
		fmt.Fprintf(tw, "Last reload:\t%s at %s (%s)\n", r.Result, r.Time.Local().Format("15:04:05"), ago(now, r.Time))
	} else {
		fmt.Fprintf(tw, "Last reload:\tnone yet\n")
	}
	if st.EventsDropped > 0 {
		fmt.Fprintf(tw, "Events dropped:\t%d (a subscriber fell behind)\n", st.EventsDropped)
	}
	_ = tw.Flush()
	if r := st.LastReload; r != nil && len(r.Errors) > 0 {
		if r.Result == manager.ReloadRejected {
			if st.Source == "" {
				fmt.Fprintln(w, "No configuration is in force. Problems:")
			} else {
				fmt.Fprintln(w, "The configuration in force is kept. Problems:")
			}
		}
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// statusTable writes one row per target.
func statusTable(w io.Writer, st manager.Status, now time.Time) {
	if len(st.Targets) == 0 {
		fmt.Fprintln(w, "No targets.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tENDPOINT\tSTATE\tPOOL\tIN-USE\tWAITING\tREQUESTS\tERRORS\tLAST-CHANGE")
	for _, t := range st.Targets {
		state := t.State.String()
		if t.Paused {
			state += ",paused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%d\t%s\n", t.Name, t.Addr, state,
			t.Open, t.Desired, t.InUse, t.Waiting, t.Requests, t.Errors, ago(now, t.LastChange))
	}
	_ = tw.Flush()
}

// statusDetails writes pending replacements, draining pools and last
// errors, when there are any.
func statusDetails(w io.Writer, st manager.Status, now time.Time) {
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	var pending, lastErrs, draining, paused []string
	for _, t := range st.Targets {
		if t.Paused {
			paused = append(paused, fmt.Sprintf("%s: %d request(s) held, %d in flight", t.Name, t.Held, t.InFlight))
		}
		if p := t.Pending; p != nil {
			l := fmt.Sprintf("%s → %s: %s, %d/%d open", t.Name, p.Addr, p.State, p.Open, p.Desired)
			if p.LastError != "" {
				l += "; last error: " + p.LastError
			}
			pending = append(pending, l)
		}
		if t.LastError != "" {
			lastErrs = append(lastErrs, fmt.Sprintf("%s: %s (%s)", t.Name, t.LastError, ago(now, t.LastErrorTime)))
		}
	}
	for _, d := range st.Draining {
		draining = append(draining, fmt.Sprintf("%s %s (%s), %d in use", d.Target, d.Endpoint, d.Why, d.InUse))
	}
	section("Paused (new requests wait for flearectl resume NAME)", paused)
	section("Replacing (the old pool serves until the new one is full)", pending)
	section("Draining", draining)
	section("Last errors", lastErrs)
}

// ago says how long before now t was.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t).Round(time.Second)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return t.Local().Format(time.DateTime)
}

// writeYAML writes the JSON document data as block-style YAML, keeping
// its keys in order.
func writeYAML(w io.Writer, data []byte) error {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return err
	}
	blockStyle(&n)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	return enc.Close()
}

// blockStyle clears the flow and quoting styles JSON gave the nodes: the
// encoder quotes a string only where YAML needs it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// isTerminal reports whether w is a terminal that takes cursor controls.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || strings.EqualFold(os.Getenv("TERM"), "dumb") {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
