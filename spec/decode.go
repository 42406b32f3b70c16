package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// setting is one value written in a target or in defaults.
type setting struct {
	s    string        // string, secret or (absolute) path
	n    int64         // integer
	d    time.Duration // duration
	u    []User        // listen.users
	node *yaml.Node    // where it was written; nil when not written
}

// layer holds the settings written in one target or in defaults, by slot.
type layer [numSlots]setting

// pairs yields the key and value nodes of mapping m, skipping (and
// reporting) keys that are not plain scalars.
func (d *decoder) pairs(m *yaml.Node, sc scope) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(*yaml.Node, *yaml.Node) bool) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			switch {
			case k.Kind == yaml.AliasNode:
				d.add(k, sc, "", "YAML aliases (*name) are not supported as keys")
				continue
			case k.Kind != yaml.ScalarNode:
				d.add(k, sc, "", "a key must be a plain string, not a %s", kindName(k))
				continue
			case k.ShortTag() == "!!merge":
				d.add(k, sc, "", "YAML merge keys (<<) are not supported (put shared settings under defaults)")
				continue
			}
			if !yield(k, v) {
				return
			}
		}
	}
}

// mapping reports whether n is a mapping, recording a problem (what is
// allowed in wrong) when it is not.
func (d *decoder) mapping(n *yaml.Node, sc scope, field, wrong string) bool {
	switch {
	case n.Kind == yaml.MappingNode:
		return true
	case n.Kind == yaml.AliasNode:
		d.add(n, sc, field, "YAML aliases (*name) are not supported (put shared settings under defaults)")
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		d.add(n, sc, field, "has no value; %s", wrong)
	default:
		d.add(n, sc, field, "is a %s; %s", kindName(n), wrong)
	}
	return false
}

// kindName names the YAML kind of n for error messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}

// layer decodes mapping m, whose keys are fields, into l. It reports whether
// m was a mapping.
func (d *decoder) layer(m *yaml.Node, fields []field, sc scope, l *layer) bool {
	if m.Kind != yaml.MappingNode {
		d.mapping(m, sc, "", "must be a mapping of "+allowedKeys(fields, sc.defaults))
		return false
	}
	var firstLine [maxFields]int // line of each field's key, once seen
	for k, v := range d.pairs(m, sc) {
		i := fieldIndex(fields, k.Value)
		if i < 0 {
			d.unknown(k, fields, sc)
			continue
		}
		f := &fields[i]
		if sc.defaults && f.targetOnly {
			d.add(k, sc, f.key, "not allowed in defaults (each target names its own %s)", f.key)
			continue
		}
		if firstLine[i] != 0 {
			d.add(k, sc, f.key, "duplicate key (first at line %d)", firstLine[i])
			continue
		}
		firstLine[i] = k.Line
		if f.kind == kindMap {
			if f.key == listenField.key {
				l[slotListen].node = v
			}
			d.layer(v, f.children, scope{target: sc.target, defaults: sc.defaults, parent: f.key}, l)
			continue
		}
		d.leaf(v, f, sc, l)
	}
	return true
}

// unknown records an unknown key k in a map of fields.
func (d *decoder) unknown(k *yaml.Node, fields []field, sc scope) {
	if d.dropped(k) {
		return
	}
	allowed := allowedKeys(fields, sc.defaults)
	if s := suggest(k.Value, fields, sc.parent, sc.defaults); s != "" {
		d.add(k, sc, k.Value, "unknown key; %s (allowed: %s)", s, allowed)
		return
	}
	d.add(k, sc, k.Value, "unknown key (allowed: %s)", allowed)
}

// leaf decodes the value v of field f into l. The setting is marked written
// even when its value is bad, so that no "missing" follows a bad value.
func (d *decoder) leaf(v *yaml.Node, f *field, sc scope, l *layer) {
	s := &l[f.slot]
	s.node = v
	if f.kind == kindUsers {
		s.u, _ = d.users(v, f, sc)
		return
	}
	text, ok := d.scalar(v, f, sc)
	if !ok {
		return
	}
	m := masked(v)
	var msg string
	switch f.kind {
	case kindString:
		s.s = text
		switch f.slot {
		case slotHost:
			msg = hostProblem(text, m)
		case slotListenAddress:
			msg = listenAddrProblem(text, m)
		}
	case kindSecret:
		s.s = text
	case kindPath:
		s.s, msg = d.passwordFile(text, m)
	case kindInt:
		s.n, msg = parseInt(text, f, m)
	case kindDuration:
		s.d, msg = parseDuration(text, f, m)
	}
	if msg != "" {
		d.add(v, sc, f.key, "%s", msg)
	}
}

// masked returns how an error names the value of v when v holds a variable
// reference: by the reference as written ("the value of \"${PORT}\""),
// never by what it expanded to, which came from the environment and may
// be a secret. It returns "" for a value without references, which errors
// may quote.
func masked(v *yaml.Node) string {
	if !hasReference(v.Value) {
		return ""
	}
	return "the value of " + quoteShort(v.Value)
}

// say returns m, the masked name of a value, or, when it is "", plain.
func say(m, plain string) string {
	if m != "" {
		return m
	}
	return plain
}

// scalar checks that v is a scalar of the YAML type f takes and returns its
// text with variables expanded, or false after recording a problem.
func (d *decoder) scalar(v *yaml.Node, f *field, sc scope) (string, bool) {
	tag := v.ShortTag()
	switch {
	case v.Kind == yaml.AliasNode:
		d.add(v, sc, f.key, "YAML aliases (*name) are not supported (put shared settings under defaults)")
		return "", false
	case v.Kind != yaml.ScalarNode:
		d.add(v, sc, f.key, "is a %s; must be %s", kindName(v), expected(f))
		return "", false
	case tag == "!!null":
		d.add(v, sc, f.key, "has no value; must be %s", expected(f))
		return "", false
	}
	ref := hasReference(v.Value)
	switch f.kind {
	case kindString, kindSecret, kindPath:
		if tag != "!!str" {
			d.add(v, sc, f.key, "must be a string (put it in quotes)")
			return "", false
		}
	case kindInt:
		// 08 and 09 are floats to the YAML library; parseDecimal decides.
		if !ref && tag != "!!int" && tag != "!!float" {
			d.add(v, sc, f.key, "%s is not an integer; must be %s", quoteShort(v.Value), expected(f))
			return "", false
		}
	case kindDuration:
		if !ref && tag != "!!str" && tag != "!!int" && tag != "!!float" {
			d.add(v, sc, f.key, "%s is not a duration; must be %s", quoteShort(v.Value), expected(f))
			return "", false
		}
	}
	text, msgs := expand(v.Value, d.lookupEnv, d.refusedVar, f.kind == kindSecret)
	for _, m := range msgs {
		d.add(v, sc, f.key, "%s", m)
	}
	return text, len(msgs) == 0
}

// expected describes what field f accepts.
func expected(f *field) string {
	switch f.kind {
	case kindString:
		switch f.slot {
		case slotHost:
			return "a host name or IP address"
		case slotListenAddress:
			return "host:port, e.g. 127.0.0.1:7219"
		}
		return "a string"
	case kindSecret:
		return `a string (or "" for none)`
	case kindPath:
		return "the path of a file holding the password"
	case kindInt:
		return fmt.Sprintf("an integer from %d to %d%s", f.min, f.max, f.hint)
	case kindDuration:
		return durationRule(f)
	}
	return "a mapping"
}

// durationRule describes the durations f accepts.
func durationRule(f *field) string {
	if f.min > 0 {
		return "a positive duration such as 30s or 1m30s (units: ns, us, ms, s, m, h)"
	}
	return "a duration such as 30s or 1m30s, or 0s (units: ns, us, ms, s, m, h)"
}

// quoteShort quotes s for an error message, shortened when long.
func quoteShort(s string) string {
	const maxLen = 40
	if len(s) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// errNotDecimal: an integer written with a base prefix (0x, 0o, 0b).
var errNotDecimal = errors.New("not decimal")

// parseDecimal reads a decimal integer: an optional sign, then digits, with
// single underscores allowed between digits (1_000). Leading zeros are
// read as decimal, as YAML 1.2 does (010 is ten, never eight); base
// prefixes (0x, 0o, 0b) are refused with errNotDecimal.
func parseDecimal(text string) (int64, error) {
	digits := strings.TrimLeft(text, "+-")
	switch {
	case len(text)-len(digits) > 1, digits == "":
		return 0, strconv.ErrSyntax
	case len(digits) > 1 && digits[0] == '0' && strings.ContainsRune("xXoObB", rune(digits[1])):
		return 0, errNotDecimal
	case strings.HasPrefix(digits, "_"), strings.HasSuffix(digits, "_"), strings.Contains(digits, "__"):
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(strings.ReplaceAll(text, "_", ""), 10, 64)
}

// parseInt converts text to an integer within f's bounds. m is the masked
// name of the value, "" when errors may quote it.
func parseInt(text string, f *field, m string) (int64, string) {
	n, err := parseDecimal(text)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Sprintf("%s is out of range; must be %s", say(m, quoteShort(text)), expected(f))
	case errors.Is(err, errNotDecimal):
		return 0, fmt.Sprintf("%s is not a decimal integer; must be %s (written in decimal)", say(m, quoteShort(text)), expected(f))
	case err != nil:
		return 0, fmt.Sprintf("%s is not an integer; must be %s", say(m, quoteShort(text)), expected(f))
	case n < f.min || n > f.max:
		return n, fmt.Sprintf("%s is out of range; must be %s", say(m, strconv.FormatInt(n, 10)), expected(f))
	}
	return n, ""
}

// parseDuration converts text, in Go syntax, to a duration of at least
// f.min. m is the masked name of the value, "" when errors may quote it.
func parseDuration(text string, f *field, m string) (time.Duration, string) {
	if text == "" {
		return 0, say(m, "is empty; must be") + " " + durationRule(f)
	}
	if _, err := strconv.ParseFloat(text, 64); err == nil {
		example := "30s"
		if m == "" {
			example = unitExample(text)
		}
		return 0, fmt.Sprintf("%s has no unit; write e.g. %s (units: ns, us, ms, s, m, h)", say(m, quoteShort(text)), example)
	}
	dur, err := time.ParseDuration(text)
	switch {
	case err != nil:
		return 0, fmt.Sprintf("%s is not a duration; must be %s", say(m, quoteShort(text)), durationRule(f))
	case dur < 0:
		return dur, fmt.Sprintf("%s is negative; must be %s", say(m, quoteShort(text)), durationRule(f))
	case int64(dur) < f.min:
		return dur, fmt.Sprintf("%s is zero; must be %s", say(m, quoteShort(text)), durationRule(f))
	}
	return dur, ""
}

// unitExample suggests how a bare number might have been meant: the
// official Node client takes milliseconds.
func unitExample(num string) string {
	if len(num) <= 12 && strings.Trim(num, "0123456789") == "" {
		return num + "ms or " + num + "s"
	}
	return "30s"
}

// passwordFile resolves path against the file's directory and checks, once
// per parse, that it names a readable, non-empty file, in the allowed
// directories when there are any. It returns the absolute path and a
// problem, if any. m is the masked name of the value, "" when errors may
// quote it.
func (d *decoder) passwordFile(path, m string) (string, string) {
	if path == "" {
		return "", say(m, "is empty;") + ` must be the path of a file holding the password (write password: "" for none)`
	}
	abs := path
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(d.dir, abs)
	}
	if d.checked == nil {
		d.checked = make(map[string]string)
	}
	msg, done := d.checked[abs]
	if !done {
		msg = d.checkPasswordFile(abs)
		d.checked[abs] = msg
	}
	if msg != "" {
		return abs, say(m, quoteShort(path)) + " " + msg
	}
	return abs, ""
}

// checkPasswordFile returns what is wrong with the password file at path,
// or "". It never returns the file's content, and reads no file outside the
// allowed directories.
func (d *decoder) checkPasswordFile(path string) string {
	if d.secretDirs != nil {
		if msg := d.outsideSecretDirs(path); msg != "" {
			return msg
		}
	}
	b, err := d.readFile(path)
	if err != nil {
		return "cannot be read: " + pathErrText(err)
	}
	pw := trimNewline(string(b))
	switch {
	case pw == "":
		return "is empty; it must hold the password"
	case !utf8.ValidString(pw):
		return "is not valid UTF-8 text"
	}
	return ""
}

// outsideSecretDirs returns why path may not be read as a password file,
// or "" when, every link resolved, it lies inside an allowed directory.
func (d *decoder) outsideSecretDirs(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "cannot be read: " + pathErrText(err)
	}
	for _, dir := range d.secretDirs {
		if rel, err := filepath.Rel(dir, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return ""
		}
	}
	if len(d.secretDirs) == 0 {
		return "is not allowed: password files are not read for this configuration" + d.hint("; ")
	}
	return fmt.Sprintf("is outside the directories password files may be read from here (%s)%s", strings.Join(d.secretDirs, ", "), d.hint("; "))
}

// refusedVar returns why the variable name may not be read, or "".
func (d *decoder) refusedVar(name string) string {
	if d.allowVar == nil || d.allowVar(name) {
		return ""
	}
	return "variable " + name + " is not allowed in this configuration (write the value itself" + d.hint(", or: ") + ")"
}

// hint returns Parser.PolicyHint after sep, or "" when there is none.
func (d *decoder) hint(sep string) string {
	if d.policyHint == "" {
		return ""
	}
	return sep + d.policyHint
}

// pathErrText is the text of a file error without the path, which the
// caller names already.
func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

// resolveDirs returns dirs made absolute, every link resolved where it can
// be; nil stays nil.
func resolveDirs(dirs []string) []string {
	if dirs == nil {
		return nil
	}
	out := make([]string, 0, len(dirs))
	for _, dir := range dirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		out = append(out, abs)
	}
	return out
}
