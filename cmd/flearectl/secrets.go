package main

import (
	"log/slog"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fleare-manager/fleare-manager/internal/safefile"
	"github.com/fleare-manager/fleare-manager/spec"
)

// groupOrOther are the permission bits that let users other than the owner
// read or change a file.
const groupOrOther = 0o077

// warnExposedSecrets logs a warning when the configuration file at path
// holds a plaintext password and users other than its owner can read it,
// and for each password_file of cfg that they can read. It never logs a
// password, only where one is.
func warnExposedSecrets(logger *slog.Logger, path string, cfg *spec.Config) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&groupOrOther != 0 {
		if data, err := safefile.ReadFile(path, spec.MaxConfigSize); err == nil {
			if lines := plaintextPasswords(data); len(lines) > 0 {
				logger.Warn("the config file holds a plaintext password and is readable by group or others: "+
					"chmod 600 it, or take the password from ${VAR} or a password_file",
					"file", path, "mode", fi.Mode().Perm().String(), "lines", lines)
			}
		}
	}
	if cfg == nil {
		return
	}
	seen := make(map[string]bool)
	check := func(target, file string) {
		if file == "" || seen[file] {
			return
		}
		seen[file] = true
		if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&groupOrOther != 0 {
			logger.Warn("a password_file is readable by group or others: chmod 600 it",
				"target", target, "password_file", file, "mode", fi.Mode().Perm().String())
		}
	}
	for _, t := range cfg.Targets {
		check(t.Name, t.PasswordFile)
		for _, u := range t.Listen.Users.All() { // the apps' logins to the proxy
			check(t.Name, u.PasswordFile)
		}
	}
}

// varRef matches a variable reference.
var varRef = regexp.MustCompile(`\$\{[^}]*\}`)

// plaintextPasswords returns the lines of the YAML document data where a
// password key has a value written in the file: not empty, and not made of
// ${VAR} references only. A document that does not parse has none (the
// manager rejects it anyway).
func plaintextPasswords(data []byte) []int {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	var lines []int
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "password" && v.Kind == yaml.ScalarNode && literal(v.Value) {
					lines = append(lines, v.Line)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	return lines
}

// literal reports whether a scalar holds text besides variable references.
func literal(v string) bool {
	return strings.TrimSpace(varRef.ReplaceAllString(v, "")) != ""
}
