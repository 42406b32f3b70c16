package fleare

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// ErrUnsafeCommand is matched by the error of a request refused because its
// command can kill the Fleare server (see UnsafeCommands). Nothing was
// sent. Options.AllowUnsafeCommands turns the guard off.
var ErrUnsafeCommand = errors.New("fleare: command refused: it can kill the server")

// unsafeCommands is the one list of commands the guard refuses. STR.GET and
// NUM.GET of a key that does not exist dereference a missing value and
// crash the real server (v1.x), for every client; GET of a missing key is a
// safe "Ok" with an empty result.
var unsafeCommands = [...]string{"STR.GET", "NUM.GET"}

// UnsafeCommands returns the commands that can kill the Fleare server
// whatever their arguments (STR.GET and NUM.GET: a missing key crashes
// it), in upper case. Do, Exec and Pipeline refuse them unless
// Options.AllowUnsafeCommands is set; a proxy can refuse them with the same
// list. Client.StrGet and Client.NumGet are safe replacements.
func UnsafeCommands() []string { return slices.Clone(unsafeCommands[:]) }

// IsUnsafe reports whether command is one of UnsafeCommands in any case
// (Unicode case folding: "ſtr.get" too, which upper-cases to STR.GET), or
// has one as its first word ("STR.GET ", " num.get"): whether the server
// trims or splits a command name is not known.
func IsUnsafe(command string) bool {
	word := strings.TrimLeftFunc(command, unicode.IsSpace)
	if i := strings.IndexFunc(word, unicode.IsSpace); i >= 0 {
		word = word[:i]
	}
	for _, u := range unsafeCommands {
		if strings.EqualFold(word, u) {
			return true
		}
	}
	return false
}

func unsafeError(command string) error {
	return fmt.Errorf("%w: %s of a missing key crashes the Fleare server; use StrGet or NumGet, or set Options.AllowUnsafeCommands", ErrUnsafeCommand, command)
}
