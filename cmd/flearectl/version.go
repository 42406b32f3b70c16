package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print flearectl's version, source revision and Go version",
		Long: `version prints the module version flearectl was built from ("(devel)" for a
build from a source tree), the VCS revision and time when the build
recorded them (with "+dirty" for uncommitted changes), and the Go version.`,
		Example: `  flearectl version`,
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(stdout, versionString())
			return err
		},
	}
}

// versionString describes the build, from the information the Go
// toolchain embeds in the binary.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "flearectl (unknown build) " + runtime.Version()
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, when string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "flearectl %s", version)
	if rev != "" {
		fmt.Fprintf(&b, ", revision %.12s", rev)
		if dirty {
			b.WriteString("+dirty")
		}
		if when != "" {
			fmt.Fprintf(&b, " (%s)", when)
		}
	}
	fmt.Fprintf(&b, ", %s %s/%s", info.GoVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
