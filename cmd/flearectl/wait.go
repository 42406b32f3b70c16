package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/manager"
)

// Conditions wait knows, for --for.
const (
	// forConnected: the target's serving pool has a connection open.
	forConnected = "connected"
	// forReady: connected, every connection of the pool open, and no
	// replace pending.
	forReady = "ready"
)

// waitRequestTimeout bounds each status request of wait, whatever is left
// of --timeout.
const waitRequestTimeout = 10 * time.Second

func newWaitCmd(stdout io.Writer) *cobra.Command {
	var (
		c        conn
		cond     string
		timeout  time.Duration
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait [NAME...] --for=connected|ready [--timeout D]",
		Short: "Wait until the running manager's targets are connected (or ready)",
		Long: `wait asks the running manager for its status every --interval until every
target (or each NAME) meets the condition, as kubectl wait does:

  connected  the target's serving pool has a connection open
  ready      connected, every connection of its pool open, and no replace
             pending (a new endpoint still filling)

Without NAME it also waits for a first configuration to be in force. A
manager not reachable yet (still starting) and a NAME not configured yet
are waited for too, until --timeout.

Exit codes: 0 the condition holds; 1 it did not within --timeout (what is
still missing is printed); 2 usage error, or a socket refused as unsafe.`,
		Example: `  flearectl wait --for=connected
  flearectl wait cache sessions --for=ready --timeout 2m
  flearectl apply -f fleare.yaml && flearectl wait --for=connected`,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeTargets(&c),
		RunE: func(cmd *cobra.Command, names []string) error {
			if cond == "" {
				return usagef("--for is required: %s or %s", forConnected, forReady)
			}
			if cond != forConnected && cond != forReady {
				return usagef("--for %q: want %s or %s", cond, forConnected, forReady)
			}
			if timeout <= 0 || interval <= 0 {
				return usagef("--timeout and --interval must be positive")
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return waitCondition(ctx, cl, names, cond, interval, stdout)
		},
	}
	cmd.Flags().StringVar(&cond, "for", "", "the condition: connected or ready")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait before giving up (exit 1)")
	cmd.Flags().DurationVar(&interval, "interval", 250*time.Millisecond, "how often to ask the manager")
	completeFlags(cmd, map[string][]string{"for": {forConnected, forReady}})
	c.addFlags(cmd, 0)
	return cmd
}

// waitCondition polls the manager until names (every target if none) meet cond,
// or ctx ends.
func waitCondition(ctx context.Context, cl *admin.Client, names []string, cond string, interval time.Duration, w io.Writer) error {
	var missing []string
	for {
		rctx, cancel := context.WithTimeout(ctx, waitRequestTimeout)
		st, err := cl.Status(rctx)
		cancel()
		switch {
		case err == nil:
			missing = unmet(st, names, cond)
			if len(missing) == 0 {
				met := targetNames(st, names)
				if len(met) == 0 {
					met = []string{"(no targets)"}
				}
				fmt.Fprintf(w, "%s: %s\n", cond, strings.Join(met, ", "))
				return nil
			}
		case fatalForWait(err):
			return err
		case ctx.Err() != nil && len(missing) > 0:
			// Cut short by --timeout: what was missing before says more.
		default:
			missing = []string{err.Error()}
		}
		if !sleep(ctx, interval) {
			if cerr := context.Cause(ctx); !errors.Is(cerr, context.DeadlineExceeded) {
				return cerr // interrupted
			}
			return &exitError{code: exitFail, err: fmt.Errorf("not %s in time:\n  %s", cond, strings.Join(missing, "\n  "))}
		}
	}
}

// fatalForWait reports whether err will not go away by waiting: a socket
// refused as unsafe, or a refused token.
func fatalForWait(err error) bool {
	var (
		unsafe *admin.UnsafeSocketError
		ae     *admin.APIError
	)
	return errors.As(err, &unsafe) || errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized
}

// unmet describes each target of names (every target if none) that does
// not meet cond in st; nil when all do.
func unmet(st manager.Status, names []string, cond string) []string {
	if len(names) == 0 && st.Source == "" {
		return []string{"no configuration is in force yet"}
	}
	var out []string
	for _, name := range targetNames(st, names) {
		i := slices.IndexFunc(st.Targets, func(t manager.TargetStatus) bool { return t.Name == name })
		if i < 0 {
			out = append(out, fmt.Sprintf("%s: not configured", name))
			continue
		}
		if why := notMet(st.Targets[i], cond); why != "" {
			out = append(out, fmt.Sprintf("%s: %s", name, why))
		}
	}
	return out
}

// notMet says why t does not meet cond, "" if it does.
func notMet(t manager.TargetStatus, cond string) string {
	var why string
	switch {
	case t.State != fleare.StateConnected:
		why = "state " + t.State.String()
	case cond == forReady && t.Open < t.Desired:
		why = fmt.Sprintf("%d of %d connections open", t.Open, t.Desired)
	case cond == forReady && t.Pending != nil:
		why = fmt.Sprintf("replacing: %s still filling (%d/%d)", t.Pending.Addr, t.Pending.Open, t.Pending.Desired)
	default:
		return ""
	}
	if t.LastError != "" {
		why += "; last error: " + t.LastError
	}
	return why
}

// targetNames is names, or every target of st if names is empty.
func targetNames(st manager.Status, names []string) []string {
	if len(names) > 0 {
		return names
	}
	out := make([]string, len(st.Targets))
	for i, t := range st.Targets {
		out[i] = t.Name
	}
	return out
}
