package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/manager"
)

func newEventsCmd(stdout io.Writer) *cobra.Command {
	var (
		c      conn
		follow bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "events [--follow] [-o json]",
		Short: "Print the running manager's recent events, and follow new ones",
		Long: `events prints the events the running manager keeps (the last 256):
configurations applied or rejected, targets created, resized, updated,
replaced, deleted and drained, and pool state changes. With --follow it
then prints each new event as it happens, until interrupted.

-o json prints one JSON object per line (the manager.Event form).`,
		Example: `  flearectl events
  flearectl events --follow
  flearectl events -f -o json | jq -r 'select(.type == "config.rejected") | .errors[]'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := cmd.Context()
			if !follow {
				var cancel func()
				ctx, cancel = c.withTimeout(ctx)
				defer cancel()
			}
			enc := json.NewEncoder(stdout)
			err = cl.Events(ctx, follow, func(e manager.Event) error {
				if output == "json" {
					return enc.Encode(e)
				}
				_, err := fmt.Fprintln(stdout, e.String())
				return err
			})
			if follow && cmd.Context().Err() != nil {
				return nil // interrupted: the normal end of --follow
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	completeFlags(cmd, map[string][]string{"output": {"text", "json"}})
	c.addFlags(cmd, 30*time.Second)
	return cmd
}
