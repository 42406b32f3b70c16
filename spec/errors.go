package spec

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a configuration file, with its place. Parse and
// Load return every problem they find, each as an *Error, joined with
// errors.Join (one per line) and sorted by position; Errors extracts them.
//
// Its text is "file:line:col: target "name": field: what is wrong (what is
// allowed)", leaving out the parts that are empty. No Error ever contains a
// password.
type Error struct {
	// File is the name the configuration was parsed under.
	File string
	// Line and Column are 1-based; 0 when unknown (some YAML syntax errors
	// carry only a line).
	Line, Column int
	// Target is the name of the target the problem is in, or "" outside
	// the targets section.
	Target string
	// Field is the key path of the value at fault, relative to the target
	// ("pool.size") or, outside a target, to the top of the file
	// ("defaults.pool.size", "version"). Empty when the problem is not about
	// one key.
	Field string
	// Msg says what is wrong and what is allowed.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	if e.Target != "" {
		b.WriteString("target ")
		b.WriteString(strconv.Quote(e.Target))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns the *Error values in err, in the order Parse sorted them
// (by line, then column). It returns nil when err holds none, as for an I/O
// error from Load.
func Errors(err error) []*Error {
	var list []*Error
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			var se *Error
			if errors.As(e, &se) {
				list = append(list, se)
			}
		}
		return list
	}
	var se *Error
	if errors.As(err, &se) {
		list = append(list, se)
	}
	return list
}

// Lines returns one line per problem in err: each *Error's text, or, when
// err holds none (an I/O error from Load, say), err's own text. It returns
// nil for a nil err.
func Lines(err error) []string {
	if err == nil {
		return nil
	}
	es := Errors(err)
	if len(es) == 0 {
		return []string{err.Error()}
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return lines
}

// scope says where in the file a decoder is, for the errors it reports.
type scope struct {
	target   string // target name; "" outside targets
	defaults bool   // inside the defaults section
	parent   string // key of the nested map being decoded ("pool"); "" at a target's top
}

// path returns the Error.Field of key (which may be "") in scope sc.
func (sc scope) path(key string) string {
	p := sc.parent
	switch {
	case p == "":
		p = key
	case key != "":
		p += "." + key
	}
	if sc.defaults {
		if p == "" {
			return "defaults"
		}
		return "defaults." + p
	}
	return p
}

// problems collects the errors of one parse.
type problems struct {
	file string
	list []*Error
}

// add records a problem at node n (which may be nil for "no position").
// field is the key at fault, in the scope's map.
func (p *problems) add(n *yaml.Node, sc scope, field, format string, args ...any) {
	e := &Error{File: p.file, Target: sc.target, Field: sc.path(field), Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.list = append(p.list, e)
}

// err returns nil, or every problem sorted by position, joined: its text
// has one problem per line, each starting with file:line:col as compilers
// and editors write them.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	slices.SortStableFunc(p.list, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	errs := make([]error, len(p.list))
	for i, e := range p.list {
		errs[i] = e
	}
	return errors.Join(errs...)
}
