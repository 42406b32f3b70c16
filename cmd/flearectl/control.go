package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/admin"
)

// The operator controls: pause, resume and reconnect, after PgBouncer's
// PAUSE, RESUME and RECONNECT.

// controlReplyMargin is added to --timeout for the manager's reply: the
// manager waits up to --timeout, then answers.
const controlReplyMargin = 10 * time.Second

// controlOp is one of the operator controls, as a command.
type controlOp struct {
	use, short, long, example string
	suggestFor                []string // other tools' words for it, for "did you mean"
	// waits: the command has --timeout for the manager's wait (pause,
	// reconnect).
	waits  bool
	waitOf string // what --timeout bounds, for its help
	call   func(ctx context.Context, cl *admin.Client, name string, timeout time.Duration) (admin.ControlReply, error)
	// report describes the reply, and says whether it is a "no" (exit 1).
	report func(r admin.ControlReply, timeout time.Duration) (string, bool)
}

func newPauseCmd(stdout io.Writer) *cobra.Command {
	return newControlCmd(stdout, controlOp{
		use:   "pause NAME... [--timeout D]",
		short: "Hold new requests to targets until resume (for a server restart)",
		long: `pause makes each target hold its new requests until 'flearectl resume': they
wait (each within its own deadline, and no more than the target's
pool.max_queue of them; the next fails at once), while the requests in
flight finish. pause returns once none is left in flight, so that the
server can be restarted: callers then see a wait instead of errors.
Connections stay open; those the restarted server dropped are replaced
as usual.

The pause is the target's: a reload that changes nothing about it, or
changes it in place, keeps it paused; one that replaces its pool (a new
endpoint or credentials) builds the new pool paused, and the held
requests move to it, still held. Removing the target ends the pause.

Exit codes: 0 paused, nothing in flight; 1 a NAME is not configured, or
requests were still in flight after --timeout (the target is paused all
the same); 2 usage error or the manager unreachable.`,
		example: `  flearectl pause cache && systemctl restart fleare && flearectl resume cache
  flearectl pause cache sessions --timeout 2m`,
		waits:  true,
		waitOf: "how long to wait for the requests in flight to finish",
		call: func(ctx context.Context, cl *admin.Client, name string, d time.Duration) (admin.ControlReply, error) {
			return cl.Pause(ctx, name, d)
		},
		report: func(r admin.ControlReply, d time.Duration) (string, bool) {
			if !r.Drained {
				return fmt.Sprintf("%s: paused; %d request(s) still in flight after %s", r.Target, r.InFlight, d), true
			}
			return fmt.Sprintf("%s: paused, no request in flight (%d held)", r.Target, r.Held), false
		},
	})
}

func newResumeCmd(stdout io.Writer) *cobra.Command {
	return newControlCmd(stdout, controlOp{
		use:   "resume NAME...",
		short: "Let paused targets' held requests go on",
		long: `resume ends each target's pause: the requests it holds go on, and new ones
are no longer held. Resuming a target that is not paused does nothing.

Exit codes: 0 resumed; 1 a NAME is not configured; 2 usage error or the
manager unreachable.`,
		example:    `  flearectl resume cache`,
		suggestFor: []string{"unpause", "continue"},
		call: func(ctx context.Context, cl *admin.Client, name string, _ time.Duration) (admin.ControlReply, error) {
			return cl.Resume(ctx, name)
		},
		report: func(r admin.ControlReply, _ time.Duration) (string, bool) {
			return r.Target + ": resumed", false
		},
	})
}

func newReconnectCmd(stdout io.Writer) *cobra.Command {
	return newControlCmd(stdout, controlOp{
		use:   "reconnect NAME... [--timeout D]",
		short: "Replace every connection of targets, gracefully (after a DNS change)",
		long: `reconnect replaces every connection of each target's pool, one at a time and
make-before-break: a new connection is dialed (resolving the host name
again) while the old one still serves, takes its place, and the old one is
closed once no request uses it (a pipelined connection takes no new
request and is closed after the replies to those in flight on it). Dials
and closes to one server go one after another, as the Fleare server needs.
No request fails because of it.

Exit codes: 0 every connection replaced; 1 a NAME is not configured, or
connections were left to replace after --timeout (the replacing goes on);
2 usage error or the manager unreachable.`,
		example: `  flearectl reconnect cache
  flearectl reconnect cache sessions --timeout 5m`,
		suggestFor: []string{"recycle", "reconnect-all"},
		waits:      true,
		waitOf:     "how long to wait for every connection to be replaced",
		call: func(ctx context.Context, cl *admin.Client, name string, d time.Duration) (admin.ControlReply, error) {
			return cl.Reconnect(ctx, name, d)
		},
		report: func(r admin.ControlReply, d time.Duration) (string, bool) {
			if !r.Done {
				return fmt.Sprintf("%s: %d connection(s) left to replace after %s (the replacing goes on)", r.Target, r.Stale, d), true
			}
			return r.Target + ": every connection replaced", false
		},
	})
}

// newControlCmd builds the command of op.
func newControlCmd(stdout io.Writer, op controlOp) *cobra.Command {
	var (
		c       conn
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:               op.use,
		Short:             op.short,
		Long:              op.long,
		Example:           op.example,
		SuggestFor:        op.suggestFor,
		Args:              cobra.ArbitraryArgs,
		ValidArgsFunction: completeTargets(&c),
		RunE: func(cmd *cobra.Command, names []string) error {
			if len(names) == 0 {
				return usagef("%s needs the name of a target (see flearectl status)", cmd.Name())
			}
			if op.waits && (timeout <= 0 || timeout > admin.MaxControlTimeout) {
				return usagef("--timeout must be positive, at most %s", admin.MaxControlTimeout)
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			return runControl(cmd.Context(), cl, &c, op, names, timeout, stdout)
		},
	}
	if op.waits {
		cmd.Flags().DurationVar(&timeout, "timeout", admin.DefaultControlTimeout, op.waitOf)
		c.addFlags(cmd, 0)
	} else {
		c.addFlags(cmd, 30*time.Second)
	}
	return cmd
}

// runControl checks that every name is configured, then applies op to
// each, printing one line per target.
func runControl(ctx context.Context, cl *admin.Client, c *conn, op controlOp, names []string, timeout time.Duration, w io.Writer) error {
	sctx, cancel := context.WithTimeout(ctx, controlReplyMargin)
	st, err := cl.Status(sctx)
	cancel()
	if err != nil {
		return err
	}
	if _, missing := selectTargets(st, names); missing != nil {
		return missing
	}
	var no []string
	for _, name := range names {
		rctx, cancel := c.withTimeout(ctx)
		if op.waits { // the manager answers within --timeout
			rctx, cancel = context.WithTimeout(ctx, timeout+controlReplyMargin)
		}
		reply, err := op.call(rctx, cl, name, timeout)
		cancel()
		if err != nil {
			return err
		}
		line, bad := op.report(reply, timeout)
		fmt.Fprintln(w, line)
		if bad {
			no = append(no, name)
		}
	}
	if len(no) > 0 {
		return &exitError{code: exitFail, err: fmt.Errorf("%s did not finish within --timeout: %s",
			strings.Fields(op.use)[0], strings.Join(no, ", "))}
	}
	return nil
}
