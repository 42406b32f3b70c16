package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/spec"
)

// checkParallel bounds how many addresses check probes at once.
const checkParallel = 8

func newCheckCmd(stdout io.Writer) *cobra.Command {
	var (
		file    string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check -f FILE",
		Short: "Probe each target of a configuration file: reachable, or why not",
		Long: `check loads FILE (as validate does) and probes each target from this host,
without a running manager: it opens one connection and authenticates
(CONNECT), sends PING, then STATUS, timing each step. For each target it
prints whether it is reachable or why not, the latencies, the server's
shard count, and its clock skew.

CLOCK-SKEW is the server's clock minus this host's, measured at the middle
of the STATUS round trip, to the precision the server writes its time
with. Fleare's STATUS calls this time up_time, but it is the server's
current time, not its start time: the server does not report its uptime,
so neither does check.

Targets on the same address are probed one after another (the Fleare
server strands connections that arrive together); different addresses in
parallel. Each probe is bounded by the target's connect timeout and by
--timeout.

Exit codes: 0 every target answered; 1 a target failed or the file is
invalid; 2 usage error.`,
		Example: `  flearectl check -f fleare.yaml
  flearectl check -f fleare.yaml --timeout 2s`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("-f FILE is required")
			}
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			cfg, err := loadConfig(cmd, file)
			if ue := (*usageError)(nil); errors.As(err, &ue) {
				return err
			}
			if err != nil {
				return configError(file, err)
			}
			results := probeAll(cmd.Context(), cfg.Targets, timeout)
			failed := printProbes(stdout, results)
			if failed > 0 {
				return &exitError{code: exitFail, err: fmt.Errorf("%d of %d target(s) failed the check", failed, len(results))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "the configuration file whose targets to probe (- for standard input)")
	markConfigFile(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "bound on each target's probe")
	return cmd
}

// probe is the result of checking one target.
type probe struct {
	target   string
	endpoint string
	err      error
	connect  time.Duration
	ping     time.Duration
	status   time.Duration
	shards   int
	skew     time.Duration
	state    string // the server's server_status
}

// probeAll probes every target: one address at a time per address, up to
// checkParallel addresses at once. Results are in the order of targets.
func probeAll(ctx context.Context, targets []spec.Target, timeout time.Duration) []probe {
	results := make([]probe, len(targets))
	byAddr := make(map[string][]int)
	var order []string
	for i, t := range targets {
		if _, ok := byAddr[t.Addr()]; !ok {
			order = append(order, t.Addr())
		}
		byAddr[t.Addr()] = append(byAddr[t.Addr()], i)
	}
	sem := make(chan struct{}, checkParallel)
	var wg sync.WaitGroup
	for _, addr := range order {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, i := range byAddr[addr] {
				results[i] = probeTarget(ctx, targets[i], timeout)
			}
		})
	}
	wg.Wait()
	return results
}

// probeTarget dials and authenticates one connection to t, then sends PING
// and STATUS.
func probeTarget(ctx context.Context, t spec.Target, timeout time.Duration) probe {
	p := probe{target: t.Name, endpoint: t.Addr()}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts := t.PoolOptions()
	opts.ConnectTimeout = min(opts.ConnectTimeout, timeout)
	opts.RequestTimeout = min(opts.RequestTimeout, timeout)
	start := time.Now()
	c, err := fleare.Dial(ctx, t.Host, t.Port, opts)
	p.connect = time.Since(start)
	if err != nil {
		p.err = err
		return p
	}
	defer c.Close()
	start = time.Now()
	err = c.Ping(ctx)
	p.ping = time.Since(start)
	if err != nil {
		p.err = err
		return p
	}
	start = time.Now()
	st, err := c.Status(ctx)
	end := time.Now()
	p.status = end.Sub(start)
	if err != nil {
		p.err = err
		return p
	}
	p.state, p.shards = st.ServerStatus, st.ShardCount
	p.skew = clockSkew(st.UpTime, start, end)
	return p
}

// clockSkew compares the server's clock, read by a round trip from start to
// end (STATUS's up_time is the server's time when it answered), with the
// middle of the round trip. It is 0 when the server gave no time.
func clockSkew(server, start, end time.Time) time.Duration {
	if server.IsZero() {
		return 0
	}
	return server.Sub(start.Add(end.Sub(start) / 2))
}

// printProbes writes a table of the results, then why each failed one
// failed; it returns how many failed.
func printProbes(w io.Writer, results []probe) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tENDPOINT\tRESULT\tCONNECT\tPING\tSTATUS\tSHARDS\tCLOCK-SKEW")
	var failures []string
	for _, p := range results {
		if p.err != nil {
			fmt.Fprintf(tw, "%s\t%s\tFAILED\t%s\t-\t-\t-\t-\n", p.target, p.endpoint, roundDuration(p.connect))
			failures = append(failures, fmt.Sprintf("%s: %v", p.target, p.err))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\tok\t%s\t%s\t%s\t%d\t%s\n", p.target, p.endpoint, roundDuration(p.connect),
			roundDuration(p.ping), roundDuration(p.status), p.shards, signed(p.skew.Round(time.Millisecond)))
	}
	_ = tw.Flush()
	if len(failures) > 0 {
		fmt.Fprintln(w)
		for _, f := range failures {
			fmt.Fprintln(w, f)
		}
	}
	return len(failures)
}

// signed formats d with an explicit sign.
func signed(d time.Duration) string {
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}
