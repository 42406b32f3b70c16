package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/admin"
)

func newApplyCmd(stdout io.Writer) *cobra.Command {
	var (
		c      conn
		file   string
		output string
		o      admin.ApplyOptions
		expect int64
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--force] [--expect-generation N] [--expect-hash HASH]",
		Short: "Send a configuration file to the running manager and apply it",
		Long: `apply sends FILE (or standard input, with -f -) to the running manager,
which parses it, prints the plan (what it creates, replaces, updates,
resizes and deletes), executes it and reports each target's outcome. With
--dry-run it only prints the plan.

The manager parses the file in its own environment: ${VAR} references
expand with the manager's variables, and a relative password_file resolves
against FILE's directory on the manager's host (the manager's working
directory for -f -). A file that does not parse or validate changes
nothing: every problem is listed as file:line:col.

One source of truth: a manager started with serve -f FILE follows that
file, and refuses apply, since the file's next change, a SIGHUP or a
restart would silently undo it. --force applies anyway, until then (status
says so). A manager started without -f takes its configuration from apply
alone.

--expect-generation N and --expect-hash HASH (the Generation and Hash that
status shows) apply only if the configuration in force is still that one,
so that two people applying at once cannot undo each other unseen.

Exit codes: 0 applied; 1 the file was rejected, a target failed (it stays
configured and keeps retrying in the background), or the apply was refused
(a watched file, or a precondition that no longer holds): whatever -o
says; 2 usage error or the manager unreachable.`,
		Example: `  flearectl apply -f fleare.yaml --dry-run   # what would change
  flearectl apply -f fleare.yaml             # change it
  flearectl apply -f fleare.yaml -o json     # the plan and outcomes as JSON
  generate-config | flearectl apply -f -     # from standard input
  flearectl apply -f fleare.yaml --expect-generation 7`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if cmd.Flags().Changed("expect-generation") {
				if expect < 0 {
					return usagef("--expect-generation must not be negative")
				}
				g := uint64(expect)
				o.ExpectGeneration = &g
			}
			data, err := readFile(cmd, file)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := c.withTimeout(cmd.Context())
			defer cancel()
			res, err := cl.ApplyWith(ctx, file, data, o)
			if err != nil {
				return err
			}
			if output == "json" {
				if err := writeJSON(stdout, res); err != nil {
					return err
				}
			} else {
				printApply(stdout, res)
			}
			if res.Failed() {
				return &exitError{code: exitFail}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "filename", "f", "", "the configuration file to apply (- for standard input)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the plan only; change nothing")
	f.BoolVar(&o.Force, "force", false, "apply even though the manager follows a file (until its next change, SIGHUP or restart)")
	f.Int64Var(&expect, "expect-generation", 0, "apply only if the configuration in force has this generation")
	f.StringVar(&o.IfMatch, "expect-hash", "", `apply only if the configuration in force has this hash (as status shows it), or "*" for any`)
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlags(cmd, map[string][]string{"output": {"text", "json"}})
	markConfigFile(cmd)
	c.addFlags(cmd, 5*time.Minute)
	return cmd
}

// printApply writes the plan, then each action's outcome.
func printApply(w io.Writer, res *admin.ApplyResult) {
	_ = res.Plan.Render(w)
	if res.DryRun {
		fmt.Fprintln(w, "\nDry run: nothing was changed.")
		return
	}
	if len(res.Outcomes) == 0 {
		return
	}
	fmt.Fprintf(w, "\nOutcome (generation %d):\n", res.Generation)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	failed := 0
	for _, o := range res.Outcomes {
		result := "ok"
		if o.Error != "" {
			result, failed = "FAILED: "+o.Error, failed+1
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", o.Action, o.Target, roundDuration(o.Took), result)
	}
	_ = tw.Flush()
	if failed > 0 {
		fmt.Fprintf(w, "%d of %d action(s) failed; their targets stay configured and keep retrying.\n",
			failed, len(res.Outcomes))
	}
}

func newDiffCmd(stdout io.Writer) *cobra.Command {
	var (
		c      conn
		file   string
		output string
	)
	cmd := &cobra.Command{
		Use:   "diff -f FILE",
		Short: "Show what applying a configuration file would change",
		Long: `diff sends FILE to the running manager and prints the plan that applying it
would execute, changing nothing. The file is parsed as apply parses it.

Exit codes (as kubectl diff): 0 nothing would change; 1 something would;
2 error (including a file that does not parse or validate).`,
		Example: `  flearectl diff -f fleare.yaml
  flearectl diff -f fleare.yaml && echo "in sync"
  generate-config | flearectl diff -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := diff(cmd, &c, file, output)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if output == "json" {
				if err := writeJSON(stdout, res); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
			} else {
				_ = res.Plan.Render(stdout)
			}
			if !res.Plan.Empty() {
				return &exitError{code: exitFail}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "the configuration file to compare (- for standard input)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlags(cmd, map[string][]string{"output": {"text", "json"}})
	markConfigFile(cmd)
	c.addFlags(cmd, time.Minute)
	return cmd
}

func diff(cmd *cobra.Command, c *conn, file, output string) (*admin.ApplyResult, error) {
	if err := checkOutput(output, "text", "json"); err != nil {
		return nil, err
	}
	data, err := readFile(cmd, file)
	if err != nil {
		return nil, err
	}
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := c.withTimeout(cmd.Context())
	defer cancel()
	return cl.Diff(ctx, file, data)
}

func newConfigCmd(stdout io.Writer) *cobra.Command {
	var c conn
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the configuration in force in the running manager",
		Long: `config prints the configuration the running manager has in force, in the
file format with every setting explicit (defaults applied, variables
expanded) and passwords masked.`,
		Example: `  flearectl config
  flearectl config > in-force.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := c.withTimeout(cmd.Context())
			defer cancel()
			data, err := cl.Config(ctx)
			if err != nil {
				return err
			}
			_, err = stdout.Write(data)
			return err
		},
	}
	c.addFlags(cmd, 30*time.Second)
	return cmd
}

// checkOutput refuses an --output value not in allowed.
func checkOutput(output string, allowed ...string) error {
	for _, a := range allowed {
		if output == a {
			return nil
		}
	}
	return usagef("unknown output format %q (allowed: %v)", output, allowed)
}

// writeJSON writes v as indented JSON, leaving <, > and & as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// roundDuration rounds d for display.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
