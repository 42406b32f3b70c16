package spec

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// badText returns the offset of the first byte of data that cannot be in a
// configuration file, and what is wrong with it; "" when there is none.
// YAML reports these without a position. Allowed are valid UTF-8, tab, line
// feed and carriage return, and every printable character YAML allows.
func badText(data []byte) (int, string) {
	for off := 0; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return off, fmt.Sprintf("invalid UTF-8 (byte 0x%02x); a configuration file must be UTF-8 text", data[off])
		case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff:
			return off, fmt.Sprintf("control character %U is not allowed in YAML", r)
		}
		off += size
	}
	return 0, ""
}

// position returns the 1-based line and column (in characters) of byte
// offset off of data.
func position(data []byte, off int) (line, col int) {
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[start:]) + 1
}

var syntaxLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// parserProblems are the messages of YAML's parser (rather than its
// scanner). The YAML library reports their line 0-based, and the line of
// the construct being parsed (the mapping or the bracket) when it is not
// the first one, or else of the offending token, and no column.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// syntax records a YAML syntax error err met in data, at the line YAML
// means, with a column found on that line.
func (d *decoder) syntax(err error, data []byte) {
	msg := err.Error()
	line := 0
	if m := syntaxLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	if parserProblems[msg] {
		line++ // 0-based; absent means the first line
	}
	n := &yaml.Node{}
	if parserProblems[msg] && line > bytes.Count(data, []byte{'\n'}) {
		// At the end of the file: what is left open is at fault.
		if off := unclosedAtEnd(data); off >= 0 {
			n.Line, n.Column = position(data, off)
			d.add(n, scope{}, "", "YAML syntax error: %q is not closed (%s)", data[off], msg)
			return
		}
	}
	if text, ok := lineText(data, line); ok {
		n.Line, n.Column = line, syntaxColumn(text, msg)
		if n.Column > 0 && (msg == "did not find expected ',' or ']'" || msg == "did not find expected ',' or '}'") &&
			strings.ContainsRune("[{", rune(text[byteIndex(text, n.Column)])) {
			msg = fmt.Sprintf("%q is not closed (%s)", text[byteIndex(text, n.Column)], msg)
		}
	}
	d.add(n, scope{}, "", "YAML syntax error: %s", msg)
}

// lineText returns the text of 1-based line n of data, without its end.
func lineText(data []byte, n int) (string, bool) {
	if n < 1 {
		return "", false
	}
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return "", false
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return strings.TrimSuffix(string(data), "\r"), true
}

// syntaxColumn returns the 1-based column on a line of the text at fault
// for a syntax error msg: the first tab of the indentation for a tab
// problem, the last bracket opened on the line and not closed on it for a
// flow collection left open, else the first character that is not a space.
// 0 when the line is blank.
func syntaxColumn(text, msg string) int {
	indent := len(text) - len(strings.TrimLeft(text, " \t"))
	switch {
	case strings.Contains(msg, "tab") || msg == "found character that cannot start any token":
		if i := strings.IndexByte(text[:indent], '\t'); i >= 0 {
			return utf8.RuneCountInString(text[:i]) + 1
		}
	case msg == "did not find expected ',' or ']'":
		if i := unclosed(text, '[', ']'); i >= 0 {
			return utf8.RuneCountInString(text[:i]) + 1
		}
	case msg == "did not find expected ',' or '}'":
		if i := unclosed(text, '{', '}'); i >= 0 {
			return utf8.RuneCountInString(text[:i]) + 1
		}
	}
	if indent == len(text) {
		return 0
	}
	return utf8.RuneCountInString(text[:indent]) + 1
}

// unclosed returns the byte offset of the last open bracket on the line
// that the line does not close, outside quotes and comments, or -1.
func unclosed(text string, open, close byte) int {
	var stack []int
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || text[i-1] == ' ' || text[i-1] == '\t'):
			i = len(text)
		case c == open:
			stack = append(stack, i)
		case c == close && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) == 0 {
		return -1
	}
	return stack[len(stack)-1]
}

// byteIndex returns the byte offset of 1-based column col of text.
func byteIndex(text string, col int) int {
	i := 0
	for c := 1; c < col && i < len(text); c++ {
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	return min(i, len(text)-1)
}

// unclosedAtEnd returns the offset of the innermost flow bracket ([ or {)
// still open at the end of data, outside quotes and comments, or -1.
func unclosedAtEnd(data []byte) int {
	var stack []int
	var quote byte
	comment := false
	for i, c := range data {
		switch {
		case comment:
			comment = c != '\n'
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n'):
			comment = true
		case c == '[' || c == '{':
			stack = append(stack, i)
		case (c == ']' || c == '}') && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) == 0 {
		return -1
	}
	return stack[len(stack)-1]
}
