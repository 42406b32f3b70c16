package spec

import (
	"strconv"
	"strings"
)

// refForms is the help text shared by every variable-reference error.
const refForms = "write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _, and $$ for a literal $"

// expand replaces each ${NAME} in s with the variable's value, each
// ${NAME:-default} with the value or, when it is unset or empty, default, and
// each $$ with $. It returns the messages of every unset variable, of every
// variable refused refuses (it returns why, or "" to allow; nil allows
// all), and of the first malformed reference (after which it stops). secret
// leaves the text of malformed references out of the messages, for values
// that hold passwords.
func expand(s string, lookup func(string) (string, bool), refused func(string) string, secret bool) (string, []string) {
	i := strings.IndexByte(s, '$')
	if i < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	var msgs []string
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i:]
		n, val, msg, ok := reference(s, lookup, refused)
		if !ok {
			if secret {
				return "", append(msgs, "malformed variable reference ("+refForms+")")
			}
			return "", append(msgs, "malformed variable reference "+strconv.Quote(s[:n])+" ("+refForms+")")
		}
		if msg != "" {
			msgs = append(msgs, msg)
		}
		b.WriteString(val)
		s = s[n:]
		i = strings.IndexByte(s, '$')
	}
	b.WriteString(s)
	return b.String(), msgs
}

// reference reads the reference at the start of s (which starts with '$').
// It returns the number of bytes read and the replacement text; msg is set
// when the variable is unset or not allowed (then it is not looked up); ok
// is false when the reference is malformed, n then covering the bad text.
func reference(s string, lookup func(string) (string, bool), refused func(string) string) (n int, val, msg string, ok bool) {
	if len(s) < 2 || (s[1] != '$' && s[1] != '{') {
		// Cover a $NAME written without braces, to quote it whole.
		n = 1
		for n < len(s) && validVarName(s[1:n+1]) {
			n++
		}
		return max(n, min(len(s), 2)), "", "", false
	}
	if s[1] == '$' {
		return 2, "$", "", true
	}
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return len(s), "", "", false
	}
	body := s[2:end]
	name, def, hasDef := strings.Cut(body, ":-")
	if !validVarName(name) || strings.ContainsAny(def, "${") {
		return end + 1, "", "", false
	}
	if refused != nil {
		if msg := refused(name); msg != "" {
			return end + 1, "", msg, true
		}
	}
	v, set := lookup(name)
	switch {
	case hasDef && v == "":
		return end + 1, def, "", true
	case !set:
		return end + 1, "", "variable " + name + " is not set (set it, or give a default: ${" + name + ":-value})", true
	}
	return end + 1, v, "", true
}

// validVarName reports whether s is a variable name: a letter or _, then
// letters, digits and _.
func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// hasReference reports whether s contains a variable reference, so that its
// YAML type says nothing about the type of its expanded value.
func hasReference(s string) bool { return strings.Contains(s, "${") }
