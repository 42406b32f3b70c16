package spec

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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

// MaxProblems is how many problems Parse lists: past it, problems are only
// counted, so that a file with a million mistakes (or an attacker's) gets
// an error of bounded size. The ones listed are the first by position.
const MaxProblems = 100

// maxQuoted bounds the target name and field path an Error holds: a valid
// name is at most MaxNameLen bytes, and an unknown key may be any length.
const maxQuoted = 64

// Omitted ends the list of problems when Parse found more than MaxProblems:
// N of them are not listed. It is the last error of the list, after the
// *Error values, and Lines includes its text.
type Omitted struct {
	// File is the name the configuration was parsed under.
	File string
	// N is how many problems are not listed.
	N int
}

func (o *Omitted) Error() string {
	return fmt.Sprintf("%s: %d more problem(s) not listed (only the first %d are)", o.File, o.N, MaxProblems)
}

// Count returns how many problems err reports: the *Error values it holds
// plus those an *Omitted counts; 1 for an error that holds none (an I/O
// error from Load, say); 0 for nil.
func Count(err error) int {
	if err == nil {
		return 0
	}
	n := len(Errors(err))
	var o *Omitted
	if errors.As(err, &o) {
		n += o.N
	}
	return max(n, 1)
}

// Errors returns the *Error values in err, in the order Parse sorted them
// (by line, then column): at most MaxProblems of them. It returns nil when
// err holds none, as for an I/O error from Load.
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

// Lines returns one line per problem in err: each *Error's text, then the
// *Omitted's when problems were left out (so at most MaxProblems+1 lines);
// or, when err holds none (an I/O error from Load, say), err's own text. It
// returns nil for a nil err.
func Lines(err error) []string {
	if err == nil {
		return nil
	}
	es := Errors(err)
	if len(es) == 0 {
		return []string{err.Error()}
	}
	lines := make([]string, len(es), len(es)+1)
	for i, e := range es {
		lines[i] = e.Error()
	}
	var o *Omitted
	if errors.As(err, &o) {
		lines = append(lines, o.Error())
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

// problems collects the errors of one parse: the first MaxProblems by
// position, and a count of the others.
type problems struct {
	file    string
	list    []*Error // never more than 2*MaxProblems
	omitted int      // problems dropped from list
	// last is the position of the last problem kept once some have been
	// dropped: a later one is dropped at once.
	lastLine, lastCol int
}

// dropped reports whether a problem at n would not be listed, and if so
// counts it: the list is full of problems placed before n. Callers use it
// to skip the work of describing a problem nobody will read.
func (p *problems) dropped(n *yaml.Node) bool {
	if p.omitted == 0 || n == nil || cmp.Or(cmp.Compare(n.Line, p.lastLine), cmp.Compare(n.Column, p.lastCol)) <= 0 {
		return false
	}
	p.omitted++
	return true
}

// add records a problem at node n (which may be nil for "no position").
// field is the key at fault, in the scope's map.
func (p *problems) add(n *yaml.Node, sc scope, field, format string, args ...any) {
	if p.dropped(n) {
		return
	}
	e := &Error{File: p.file, Target: shorten(sc.target), Field: shorten(sc.path(field)), Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.list = append(p.list, e)
	if len(p.list) >= 2*MaxProblems {
		p.trim()
	}
}

// trim sorts the list by position and keeps the first MaxProblems.
func (p *problems) trim() {
	slices.SortStableFunc(p.list, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	if len(p.list) > MaxProblems {
		p.omitted += len(p.list) - MaxProblems
		clear(p.list[MaxProblems:])
		p.list = p.list[:MaxProblems]
		p.lastLine, p.lastCol = p.list[MaxProblems-1].Line, p.list[MaxProblems-1].Column
	}
}

// err returns nil, or the problems sorted by position, joined, and ended
// by an *Omitted when some were left out: its text has one problem per
// line, each starting with file:line:col as compilers and editors write
// them.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	p.trim()
	errs := make([]error, len(p.list), len(p.list)+1)
	for i, e := range p.list {
		errs[i] = e
	}
	if p.omitted > 0 {
		errs = append(errs, &Omitted{File: p.file, N: p.omitted})
	}
	return errors.Join(errs...)
}

// shorten cuts s to maxQuoted bytes (at a rune boundary), marking the cut.
func shorten(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
