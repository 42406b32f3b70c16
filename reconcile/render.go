package reconcile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// kindNames and kindSigns are indexed by Kind.
var (
	kindNames = [...]string{Create: "create", Replace: "replace", Update: "update", Resize: "resize", Delete: "delete"}
	kindSigns = [...]string{Create: "+", Replace: "±", Update: "~", Resize: "~", Delete: "-"}
)

func (k Kind) valid() bool { return k >= Create && k <= lastKind }

// sign is the kind's mark at the start of a rendered line.
func (k Kind) sign() string {
	if !k.valid() {
		return "?"
	}
	return kindSigns[k]
}

// textWriter is what the renderers write to: a *bufio.Writer or a
// *strings.Builder.
type textWriter interface {
	io.Writer
	io.StringWriter
	io.ByteWriter
}

// String returns the kind's name as plans show it: "create", "replace",
// "update", "resize" or "delete".
func (k Kind) String() string {
	if !k.valid() {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// MarshalText encodes the kind as its name.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("reconcile: invalid action kind %d", uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a kind from its name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i := Create; i <= lastKind; i++ {
		if string(b) == kindNames[i] {
			*k = i
			return nil
		}
	}
	return fmt.Errorf("%w %q", errUnknownKind, b)
}

// errUnknownKind is the error of a kind name that is not one.
var errUnknownKind = errors.New("reconcile: unknown action kind")

// Summary counts a plan's actions per kind: s[k] is the number of actions
// of kind k. It writes as JSON as {"create": 1, "replace": 0, ...}, every
// kind in plan order.
type Summary [lastKind + 1]int

// Summary counts the plan's actions per kind.
func (p Plan) Summary() Summary {
	var s Summary
	for i := range p.Actions {
		if k := p.Actions[i].Kind; k.valid() {
			s[k]++
		}
	}
	return s
}

// String lists every count, in plan order: "2 to create, 1 to replace, 0 to
// update, 1 to resize, 0 to delete".
func (s Summary) String() string {
	var b strings.Builder
	for k := Create; k <= lastKind; k++ {
		if k > Create {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d to %s", s[k], k)
	}
	return b.String()
}

// MarshalJSON writes the counts as an object keyed by kind name.
func (s Summary) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for k := Create; k <= lastKind; k++ {
		if k > Create {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%d", kindNames[k], s[k])
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// UnmarshalJSON reads counts written by MarshalJSON; unknown names are
// ignored.
func (s *Summary) UnmarshalJSON(data []byte) error {
	var counts map[string]int
	if err := json.Unmarshal(data, &counts); err != nil {
		return err
	}
	var ns Summary
	for k := Create; k <= lastKind; k++ {
		ns[k] = counts[kindNames[k]]
	}
	*s = ns
	return nil
}

// NoChanges is the line Render writes for an empty plan.
const NoChanges = "No changes: the running targets match the configuration."

// Render writes the plan for a person to read: one line per action (or, for
// an action with several changes, a line and one indented line per change),
// then a blank line and a summary. An empty plan renders as NoChanges. As
// flearectl diff shows it:
//
//	$ flearectl diff -f fleare.yaml
//	+ create a (10.0.0.5:9219, pool 8)
//	± replace e: host 10.0.0.7 → 10.0.0.8
//	~ update d:
//	    timeouts.request  2s → 5s
//	    retry.interval    1s → 2s
//	~ resize c: pool.size 4 → 8
//	- delete b (10.0.0.6:9219, pool 4)
//
//	Plan: 1 to create, 1 to replace, 1 to update, 1 to resize, 1 to delete.
//
// Values that are empty or hold spaces, quotes or control characters are
// quoted; a secret's change reads "password changed".
func (p Plan) Render(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if p.Empty() {
		bw.WriteString(NoChanges + "\n")
		return bw.Flush()
	}
	for i := range p.Actions {
		p.Actions[i].render(bw)
	}
	fmt.Fprintf(bw, "\nPlan: %s.\n", p.Summary())
	return bw.Flush()
}

// String returns the plan as Render writes it.
func (p Plan) String() string {
	var b strings.Builder
	_ = p.Render(&b) // a strings.Builder does not fail
	return b.String()
}

// render writes the action as one line, or a header and one line per change
// when there are several.
func (a *Action) render(w textWriter) {
	a.head(w)
	switch len(a.Changes) {
	case 0:
	case 1:
		w.WriteString(": ")
		a.Changes[0].render(w, 0)
	default:
		w.WriteString(":")
		width := 0
		for _, c := range a.Changes {
			width = max(width, len(c.Path))
		}
		for _, c := range a.Changes {
			w.WriteString("\n    ")
			c.render(w, width+2)
		}
	}
	w.WriteByte('\n')
}

// head writes the sign, kind and name, and for a create or delete the
// endpoint and pool size.
func (a *Action) head(w textWriter) {
	w.WriteString(a.Kind.sign())
	w.WriteByte(' ')
	w.WriteString(a.Kind.String())
	w.WriteByte(' ')
	w.WriteString(display(a.Name))
	t := &a.Desired
	if a.Kind == Delete {
		t = &a.Current
	}
	if a.Kind == Create || a.Kind == Delete {
		fmt.Fprintf(w, " (%s, pool %d)", display(net.JoinHostPort(t.Host, strconv.Itoa(t.Port))), t.Pool.Size)
	}
}

// render writes "path old → new", the path padded with spaces to width
// (at least one).
func (c Change) render(w textWriter, width int) {
	w.WriteString(c.Path)
	for range max(width-len(c.Path), 1) {
		w.WriteByte(' ')
	}
	if c.Sensitive {
		w.WriteString("changed")
		return
	}
	w.WriteString(display(c.Old))
	w.WriteString(" → ")
	w.WriteString(display(c.New))
}

// String returns the action on one line, its changes separated by commas:
// "~ update d: timeouts.request 2s → 5s, retry.interval 1s → 2s".
func (a Action) String() string {
	var b strings.Builder
	a.head(&b)
	for i, c := range a.Changes {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		c.render(&b, 0)
	}
	return b.String()
}

// String returns the change as "path old → new", or "path changed" for a
// secret.
func (c Change) String() string {
	var b strings.Builder
	c.render(&b, 0)
	return b.String()
}

// LogValue makes log/slog record an action as a group of its kind, target
// and changes; secrets stay masked.
func (a Action) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", a.Kind.String()), slog.String("target", a.Name)}
	if len(a.Changes) > 0 {
		cs := make([]string, len(a.Changes))
		for i, c := range a.Changes {
			cs[i] = c.String()
		}
		attrs = append(attrs, slog.String("changes", strings.Join(cs, ", ")))
	}
	return slog.GroupValue(attrs...)
}

// LogValue makes log/slog record a plan as its counts per kind.
func (p Plan) LogValue() slog.Value {
	s := p.Summary()
	attrs := make([]slog.Attr, 0, len(s))
	for k := Create; k <= lastKind; k++ {
		attrs = append(attrs, slog.Int(kindNames[k], s[k]))
	}
	return slog.GroupValue(attrs...)
}

// display returns s as is when it reads unambiguously on a line, else
// quoted: empty values, and values with spaces, quotes, arrows or anything
// unprintable.
func display(s string) string {
	if s == "" || !utf8.ValidString(s) || strings.ContainsFunc(s, needsQuote) {
		return strconv.Quote(s)
	}
	return s
}

func needsQuote(r rune) bool {
	return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' || r == '\\' || r == '→' || r == ','
}
