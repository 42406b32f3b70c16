package spec

import (
	"net"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// resolve builds the target called name (whose key node is key) from its
// own layer, the defaults layer def and the built-in defaults of the field
// table, and checks what only the merged target can tell.
func (d *decoder) resolve(name string, key *yaml.Node, def, own *layer) Target {
	sc := scope{target: name}
	if own[slotHost].node == nil {
		d.add(key, sc, "host", "missing; every target needs a host name or IP address")
	}
	// A target's password or password_file replaces both of the defaults'.
	creds := def
	if own[slotPassword].node != nil || own[slotPasswordFile].node != nil {
		creds = own
	}
	t := Target{Name: name}
	eachLeaf(targetFields, "", func(f *field, _ string) {
		s := &own[f.slot]
		switch {
		case f.kind == kindSecret || f.kind == kindPath:
			s = &creds[f.slot]
		case s.node == nil:
			s = &def[f.slot]
		}
		set(f, &t, s)
	})
	if (!t.Password.IsZero() || t.PasswordFile != "") && t.Username == "" {
		d.usernameMissing(key, sc, def, own)
	}
	d.resolveListen(&t, key, own)
	return t
}

// set stores s, or f's default when s was not written, in t's field.
func set(f *field, t *Target, s *setting) {
	written := s.node != nil
	switch p := f.ref(t).(type) {
	case *string:
		*p = s.s
	case *Secret:
		*p = NewSecret(s.s)
	case *Users:
		*p = NewUsers(s.u...)
	case *int:
		*p = int(f.def)
		if written {
			*p = int(s.n)
		}
	case *time.Duration:
		*p = time.Duration(f.def)
		if written {
			*p = s.d
		}
	}
}

// usernameMissing reports a password without a username: at the target,
// or once at the defaults when the target sets none of the three keys.
func (d *decoder) usernameMissing(key *yaml.Node, sc scope, def, own *layer) {
	const msg = `a password is set but username is empty; the server authenticates both (set username, or write password: "" for no authentication)`
	if own[slotUsername].node != nil || own[slotPassword].node != nil || own[slotPasswordFile].node != nil {
		d.add(key, sc, "", msg)
		return
	}
	if d.defaultsCreds {
		return
	}
	d.defaultsCreds = true
	at := def[slotPassword].node
	if at == nil {
		at = def[slotPasswordFile].node
	}
	d.add(at, scope{defaults: true}, "", msg+"; targets that set no username inherit this")
}

// credentials reports a layer that sets both password and password_file.
func (d *decoder) credentials(l *layer, sc scope) {
	pw, pf := l[slotPassword].node, l[slotPasswordFile].node
	if pw == nil || pf == nil {
		return
	}
	later := pf
	if pw.Line > pf.Line || (pw.Line == pf.Line && pw.Column > pf.Column) {
		later = pw
	}
	d.add(later, sc, "", "password and password_file are both set; use one")
}

// nameProblem returns what is wrong with a target name, or "".
func nameProblem(name string) string {
	ok := name != "" && len(name) <= MaxNameLen && isAlnum(name[0])
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = isAlnum(c) || c == '-' || c == '_' || c == '.'
	}
	if ok {
		return ""
	}
	return "invalid target name; use 1-63 ASCII letters, digits, '-', '_' and '.', starting with a letter or digit (names become metric labels and command arguments)"
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// hostProblem returns what is wrong with a host, or "". m is the masked
// name of the value, "" when the message may quote it.
func hostProblem(h, m string) string {
	if h == "" {
		return say(m, "is empty;") + " must be a host name or IP address"
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	q := say(m, quoteShort(h))
	if strings.Contains(h, "://") {
		return q + " is a URL; must be a host name or IP address (the port goes in port)"
	}
	if host, port, err := net.SplitHostPort(h); err == nil {
		if m != "" {
			return q + " includes a port; the port goes in port"
		}
		return q + " includes a port; write host: " + quoteShort(host) + " and port: " + port
	}
	if strings.HasPrefix(h, "[") {
		return q + " has brackets; write an IPv6 address without them"
	}
	if !validHostName(h) {
		return q + " is not a host name or IP address (a name is labels separated by dots, each 1-63 ASCII letters, digits, '-' and '_', not starting or ending with '-'; 253 characters at most)"
	}
	return ""
}

// validHostName reports whether h is a host name: dot-separated labels of
// 1-63 letters, digits, '-' and '_' (which real names carry, as in
// service records), none starting or ending with '-', 253 characters at
// most, with one trailing dot allowed (a fully qualified name). So "...",
// "a..b" and "-a" (which a command line would take for an option) are not.
func validHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			if c := label[i]; !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}
