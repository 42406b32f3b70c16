package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completeFlags registers shell completion of the values of flags that take
// one of a fixed set: values maps a flag's name to its values.
func completeFlags(cmd *cobra.Command, values map[string][]string) {
	for name, vs := range values {
		_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(vs, cobra.ShellCompDirectiveNoFileComp))
	}
}

// markConfigFile makes the shell complete -f with YAML files (and
// directories, to reach them).
func markConfigFile(cmd *cobra.Command) {
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml")
}

// completionTimeout bounds the question a completion asks the manager: a
// shell waits for it.
const completionTimeout = 2 * time.Second

// completeTargets completes target names with those of the running manager
// that c points at, leaving out those already on the line. With no manager
// to ask, it offers nothing.
func completeTargets(c *conn) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		cl, err := c.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), completionTimeout)
		defer cancel()
		st, err := cl.Status(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		given := make(map[string]bool, len(args))
		for _, a := range args {
			given[a] = true
		}
		var out []cobra.Completion
		for _, t := range st.Targets {
			if !given[t.Name] && strings.HasPrefix(t.Name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(t.Name, t.Addr+" "+t.State.String()))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
