package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/spec"
)

func newValidateCmd(stdout io.Writer) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "validate -f FILE...",
		Short: "Check configuration files offline, listing every problem",
		Long: `validate parses and validates each file as the manager would, in this
process's environment (${VAR} references expand with its variables, and
password_file paths must be readable here), without contacting anything.

For each file it prints "FILE: ok (N targets)", or every problem, one per
line, as file:line:col: target "name": field: what is wrong (what is
allowed).

Exit codes: 0 every file is valid; 1 a file is invalid or unreadable;
2 usage error.`,
		Example: `  flearectl validate -f fleare.yaml
  flearectl validate -f staging.yaml -f production.yaml
  FLEARE_PASSWORD=x flearectl validate -f examples/configs/multi-target.yaml`,
		Args: noArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usagef("-f FILE is required")
			}
			bad := 0
			for _, f := range files {
				if !validate(stdout, f) {
					bad++
				}
			}
			if bad > 0 {
				return &exitError{code: exitFail, err: fmt.Errorf("%d of %d file(s) invalid", bad, len(files))}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "a configuration file to check (repeat for several)")
	return cmd
}

// validate loads the file at path and prints the verdict; it reports
// whether the file is valid.
func validate(w io.Writer, path string) bool {
	cfg, err := spec.Load(path)
	if err == nil {
		n := len(cfg.Targets)
		fmt.Fprintf(w, "%s: ok (%d %s)\n", path, n, plural(n, "target", "targets"))
		return true
	}
	problems := spec.Errors(err)
	if len(problems) == 0 {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		fmt.Fprintf(w, "%s: cannot read: %v\n", path, err)
		return false
	}
	for _, p := range problems {
		fmt.Fprintln(w, p.Error())
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
