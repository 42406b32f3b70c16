package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/spec"
)

func newValidateCmd(stdout io.Writer) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "validate -f FILE... | validate FILE...",
		Short: "Check configuration files offline, listing every problem",
		Long: `validate parses and validates each file as the manager would, in this
process's environment (${VAR} references expand with its variables, and
password_file paths must be readable here), without contacting anything.

Files are named after -f (repeat it, or list several after one -f) or as
arguments. A directory stands for its .yaml and .yml files (not those of
its subdirectories); - is standard input, named <stdin> in errors.

For each file it prints "FILE: ok (N targets)", or every problem, one per
line, as file:line:col: target "name": field: what is wrong (what is
allowed).

Exit codes: 0 every file is valid; 1 a file is invalid or unreadable, or a
directory holds no configuration file; 2 usage error.`,
		Example: `  flearectl validate -f fleare.yaml
  flearectl validate -f staging.yaml production.yaml
  flearectl validate examples/configs/
  generate-config | flearectl validate -f -
  FLEARE_PASSWORD=x flearectl validate -f examples/configs/multi-target.yaml`,
		Args: cobra.ArbitraryArgs,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			names := append(slices.Clone(files), args...)
			if len(names) == 0 {
				return usagef("name a file: -f FILE, or FILE as an argument")
			}
			paths, err := configFiles(names)
			if err != nil {
				return err
			}
			bad := 0
			for _, p := range paths {
				if !validate(cmd, stdout, p) {
					bad++
				}
			}
			if bad > 0 {
				return &exitError{code: exitFail, err: fmt.Errorf("%d of %d file(s) invalid", bad, len(paths))}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "a configuration file or directory to check (repeat for several; - for standard input)")
	markConfigFile(cmd)
	return cmd
}

// validate loads the file at path and prints the verdict; it reports
// whether the file is valid.
func validate(cmd *cobra.Command, w io.Writer, path string) bool {
	cfg, err := loadConfig(cmd, path)
	name := path
	if path == admin.StdinFile {
		name = stdinName
	}
	if err == nil {
		n := len(cfg.Targets)
		fmt.Fprintf(w, "%s: ok (%d %s)\n", name, n, plural(n, "target", "targets"))
		return true
	}
	if len(spec.Errors(err)) == 0 {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		fmt.Fprintf(w, "%s: cannot read: %v\n", name, err)
		return false
	}
	// Lines ends with the count of the problems left unlisted, if any.
	for _, line := range spec.Lines(err) {
		fmt.Fprintln(w, line)
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
