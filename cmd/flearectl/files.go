package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/internal/safefile"
	"github.com/fleare-manager/fleare-manager/spec"
)

// stdinName is how a configuration read from standard input (-f -) is
// named in errors.
const stdinName = "<stdin>"

// readFile reads a configuration file named on the command line, as a
// usage error when it cannot be read: a regular file of at most
// spec.MaxConfigSize bytes (a named pipe or a device is refused at once),
// or with path "-", standard input, read to its end within the same bound.
func readFile(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "" {
		return nil, usagef("-f FILE is required")
	}
	if path == admin.StdinFile {
		return readStdin(cmd.InOrStdin())
	}
	data, err := safefile.ReadFile(path, spec.MaxConfigSize)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return data, nil
}

// readStdin reads r to its end, refusing more than spec.MaxConfigSize
// bytes.
func readStdin(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, spec.MaxConfigSize+1))
	if err != nil {
		return nil, usagef("read standard input: %v", err)
	}
	if len(data) > spec.MaxConfigSize {
		return nil, usagef("standard input holds more than %d bytes, the largest configuration", spec.MaxConfigSize)
	}
	return data, nil
}

// loadConfig loads the configuration file at path, or standard input for
// "-" (named <stdin> in errors; a relative password_file resolves against
// the working directory).
func loadConfig(cmd *cobra.Command, path string) (*spec.Config, error) {
	if path != admin.StdinFile {
		return spec.Load(path)
	}
	data, err := readStdin(cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	return spec.Parse(stdinName, data)
}

// configFiles expands the files named on the command line: a directory
// stands for its *.yaml and *.yml files (not those of its
// subdirectories), in name order; "-" is standard input, at most once.
// Other names are kept as they are (a missing file is reported when read).
func configFiles(names []string) ([]string, error) {
	var out []string
	stdin := false
	for _, name := range names {
		if name == admin.StdinFile {
			if stdin {
				return nil, usagef("-f - (standard input) may be given once")
			}
			stdin = true
			out = append(out, name)
			continue
		}
		fi, err := os.Stat(name)
		if err != nil || !fi.IsDir() {
			out = append(out, name)
			continue
		}
		entries, err := os.ReadDir(name)
		if err != nil {
			return nil, usagef("%v", err)
		}
		var found []string
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				found = append(found, filepath.Join(name, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, &exitError{code: exitFail, err: fmt.Errorf("%s: no .yaml or .yml file in this directory", name)}
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	return out, nil
}
