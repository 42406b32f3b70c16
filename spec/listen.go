package spec

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/fleare-manager/fleare-manager/proxy"
)

// Bounds of the listen section, enforced by validation.
const (
	// MaxListenUsers bounds the users of one listen section.
	MaxListenUsers = 1000
	// MaxMaxClients bounds Listen.MaxClients (whose minimum is 1).
	MaxMaxClients = 1_000_000
	// MaxClientPipeline bounds Listen.MaxPipeline (whose minimum is 1).
	MaxClientPipeline = 65536
	// MinClientBuffer and MaxClientBuffer bound Listen.ClientBuffer, in
	// bytes.
	MinClientBuffer = 4 << 10
	MaxClientBuffer = 1 << 30
)

// Listen is where applications connect to a target through the manager's
// proxy, and who may. Every field holds the value in force, defaults
// applied, when Address is set; a target without a listen section has the
// zero Listen.
type Listen struct {
	// Address is host:port the proxy listens on; the host may be empty
	// (every interface) and the port 0 (a free one, chosen at start).
	// Required in a listen section.
	Address string
	// Users are the logins the proxy accepts from applications, checked by
	// the proxy itself; at least one, names unique.
	Users Users
	// MaxClients bounds the client connections open at once, 1-1,000,000.
	// Default proxy.DefaultMaxClients (1000).
	MaxClients int
	// AuthTimeout is how long a new client has to send its login;
	// positive. Default 5s.
	AuthTimeout time.Duration
	// ReadTimeout bounds the arrival of one request frame once begun;
	// positive. Default 10s.
	ReadTimeout time.Duration
	// WriteTimeout is how long a client may leave its replies unread
	// before it is closed; positive. Default 10s.
	WriteTimeout time.Duration
	// MaxPipeline bounds one client's requests in flight or unanswered,
	// 1-65536. Default 64.
	MaxPipeline int
	// ClientBuffer bounds, in bytes, what one client holds in the proxy,
	// 4 KiB-1 GiB. Default 1 MiB.
	ClientBuffer int
}

// User is one login the proxy accepts from applications.
type User struct {
	// Username is what the application logs in with; never empty.
	Username string
	// Password is the user's password; empty when PasswordFile is set.
	Password Secret
	// PasswordFile, when set, names a file (absolute once parsed) whose
	// content, trailing newline trimmed, is the password. It is read
	// again at every login, so a changed password applies to the next
	// login without a reload (see ResolvePassword).
	PasswordFile string
}

// ResolvePassword returns the user's password: Password, or the content of
// PasswordFile read now. Errors name the file, never its content.
func (u User) ResolvePassword() (Secret, error) {
	return Target{Name: "listen user " + u.Username, Password: u.Password, PasswordFile: u.PasswordFile}.ResolvePassword()
}

// Users is a list of logins held as one comparable value, so that Target
// stays comparable with ==. Every way of printing or marshalling it masks
// the passwords.
type Users struct {
	enc string // each user as three length-prefixed strings
}

// NewUsers returns the list of us, in order.
func NewUsers(us ...User) Users {
	var b strings.Builder
	for _, u := range us {
		for _, s := range [...]string{u.Username, u.Password.Reveal(), u.PasswordFile} {
			b.WriteString(strconv.Itoa(len(s)))
			b.WriteByte(':')
			b.WriteString(s)
		}
	}
	return Users{enc: b.String()}
}

// All returns the users, in the file's order.
func (us Users) All() []User {
	var out []User
	rest := us.enc
	next := func() string {
		n, tail, _ := strings.Cut(rest, ":")
		l, _ := strconv.Atoi(n)
		s := tail[:l]
		rest = tail[l:]
		return s
	}
	for rest != "" {
		name, pw, file := next(), next(), next()
		out = append(out, User{Username: name, Password: NewSecret(pw), PasswordFile: file})
	}
	return out
}

// Len returns the number of users.
func (us Users) Len() int { return len(us.All()) }

// String lists the users with their passwords masked:
// "web (<secret>), api (file /run/secrets/api)".
func (us Users) String() string {
	var b strings.Builder
	for i, u := range us.All() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(u.Username)
		if u.PasswordFile != "" {
			b.WriteString(" (file " + u.PasswordFile + ")")
		} else {
			b.WriteString(" (" + u.Password.String() + ")")
		}
	}
	return b.String()
}

// Format shows String for every verb, %#v included.
func (us Users) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(us.String())) }

// MarshalText makes encoders show String.
func (us Users) MarshalText() ([]byte, error) { return []byte(us.String()), nil }

// listenField is the listen section of the field table.
var listenField = field{key: "listen", kind: kindMap, children: []field{
	{key: "address", kind: kindString, slot: slotListenAddress, targetOnly: true,
		ref: func(t *Target) any { return &t.Listen.Address }},
	{key: "users", kind: kindUsers, slot: slotListenUsers,
		ref: func(t *Target) any { return &t.Listen.Users }},
	{key: "max_clients", kind: kindInt, slot: slotListenMaxClients, min: 1, max: MaxMaxClients, def: proxy.DefaultMaxClients,
		ref: func(t *Target) any { return &t.Listen.MaxClients }},
	{key: "auth_timeout", kind: kindDuration, slot: slotListenAuthTimeout, min: 1, def: int64(proxy.DefaultAuthTimeout),
		ref: func(t *Target) any { return &t.Listen.AuthTimeout }},
	{key: "read_timeout", kind: kindDuration, slot: slotListenReadTimeout, min: 1, def: int64(proxy.DefaultReadTimeout),
		ref: func(t *Target) any { return &t.Listen.ReadTimeout }},
	{key: "write_timeout", kind: kindDuration, slot: slotListenWriteTimeout, min: 1, def: int64(proxy.DefaultWriteTimeout),
		ref: func(t *Target) any { return &t.Listen.WriteTimeout }},
	{key: "max_pipeline", kind: kindInt, slot: slotListenMaxPipeline, min: 1, max: MaxClientPipeline, def: proxy.DefaultMaxPipeline,
		ref: func(t *Target) any { return &t.Listen.MaxPipeline }},
	{key: "client_buffer", kind: kindInt, slot: slotListenClientBuffer, min: MinClientBuffer, max: MaxClientBuffer, def: proxy.DefaultClientBuffer,
		hint: " (bytes)", ref: func(t *Target) any { return &t.Listen.ClientBuffer }},
}}

// userFields are the keys of one entry of listen.users.
var userFields = []field{
	{key: "username", kind: kindString},
	{key: "password", kind: kindSecret},
	{key: "password_file", kind: kindPath},
}

// users decodes the list v of listen.users. The result is nil after a
// problem was recorded.
func (d *decoder) users(v *yaml.Node, f *field, sc scope) ([]User, bool) {
	const want = "a list of {username, password} or {username, password_file}"
	switch {
	case v.Kind == yaml.AliasNode:
		d.add(v, sc, f.key, "YAML aliases (*name) are not supported")
		return nil, false
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
		d.add(v, sc, f.key, "has no value; must be %s", want)
		return nil, false
	case v.Kind != yaml.SequenceNode:
		d.add(v, sc, f.key, "is a %s; must be %s", kindName(v), want)
		return nil, false
	case len(v.Content) == 0:
		d.add(v, sc, f.key, "is empty; must list at least one user (apps log in as one of them)")
		return nil, false
	case len(v.Content) > MaxListenUsers:
		d.add(v, sc, f.key, "%d users; a listen section holds at most %d", len(v.Content), MaxListenUsers)
		return nil, false
	}
	ok := true
	out := make([]User, 0, len(v.Content))
	seen := make(map[string]int, len(v.Content))
	for i, item := range v.Content {
		key := fmt.Sprintf("%s[%d]", f.key, i)
		u, good := d.user(item, key, sc)
		if !good {
			ok = false
			continue
		}
		if first, dup := seen[u.Username]; dup {
			d.add(item, sc, key, "user %s is listed twice (first at line %d); names must be unique", quoteShort(u.Username), first)
			ok = false
			continue
		}
		seen[u.Username] = item.Line
		out = append(out, u)
	}
	return out, ok
}

// user decodes one entry of listen.users, called key ("users[0]").
func (d *decoder) user(n *yaml.Node, key string, sc scope) (User, bool) {
	if !d.mapping(n, sc, key, "must be a mapping of username and password or password_file") {
		return User{}, false
	}
	var u User
	var name, pw, pf *yaml.Node
	ok := true
	for k, v := range d.pairs(n, sc) {
		i := fieldIndex(userFields, k.Value)
		if i < 0 {
			if d.dropped(k) {
				ok = false
				continue
			}
			hint := ""
			if s := suggest(k.Value, userFields, "", false); s != "" {
				hint = "; " + s
			}
			d.add(k, sc, key+"."+k.Value, "unknown key%s (allowed: username, password, password_file)", hint)
			ok = false
			continue
		}
		f := userFields[i]
		slot := [...]**yaml.Node{&name, &pw, &pf}[i]
		if *slot != nil {
			d.add(k, sc, key+"."+f.key, "duplicate key (first at line %d)", (*slot).Line)
			ok = false
			continue
		}
		*slot = v
		f.key = key + "." + f.key
		text, good := d.scalar(v, &f, sc)
		if !good {
			ok = false
			continue
		}
		switch i {
		case 0:
			u.Username = text
			if text == "" {
				d.add(v, sc, f.key, "is empty; must be the name apps log in with")
				ok = false
			}
		case 1:
			u.Password = NewSecret(text)
			if text == "" {
				d.add(v, sc, f.key, "is empty; the Fleare protocol cannot send an empty password")
				ok = false
			}
		case 2:
			var msg string
			if u.PasswordFile, msg = d.passwordFile(text, masked(v)); msg != "" {
				d.add(v, sc, f.key, "%s", msg)
				ok = false
			}
		}
	}
	switch {
	case name == nil:
		d.add(n, sc, key, "username missing")
		ok = false
	case pw == nil && pf == nil:
		d.add(n, sc, key, "user %s has no password; set password or password_file", quoteShort(u.Username))
		ok = false
	case pw != nil && pf != nil:
		d.add(pf, sc, key, "password and password_file are both set; use one")
		ok = false
	}
	return u, ok
}

// listenAddrProblem returns what is wrong with a listen address, or "". m
// is the masked name of the value, "" when the message may quote it.
func listenAddrProblem(a, m string) string {
	q := say(m, quoteShort(a))
	if a == "" {
		return say(m, "is empty;") + " must be host:port, e.g. 127.0.0.1:7219"
	}
	if strings.Contains(a, "://") {
		return q + " is a URL; must be host:port, e.g. 127.0.0.1:7219"
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return q + " is not host:port (e.g. 127.0.0.1:7219, or :7219 for every interface)"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > MaxPort || strings.TrimLeft(port, "0123456789") != "" {
		return q + " has an invalid port; must be 0-65535 (0 picks a free port)"
	}
	if host == "" {
		return ""
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if !validHostName(host) {
		return q + " has an invalid host; must be an IP address or a host name"
	}
	return ""
}

// listenAt is a target's listen address and where it was written, for the
// check that no two targets listen on one address.
type listenAt struct {
	target, addr, host string
	node               *yaml.Node
}

// listenClash returns whether two listen hosts on one port take the same
// socket: either of them every interface (no host, 0.0.0.0 or ::), the
// same address however written (an IPv4 address and its IPv4-mapped IPv6
// form), the same host name in any case, or localhost (or a name under
// .localhost) and a loopback address it may stand for, 127.0.0.1 or ::1.
// No name is looked up: other names are compared as written.
func listenClash(a, b string) bool {
	if anyHost(a) || anyHost(b) {
		return true
	}
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	switch {
	case errA == nil && errB == nil:
		return pa.Unmap() == pb.Unmap()
	case errA == nil:
		return isLocalhost(b) && localhostAddr(pa)
	case errB == nil:
		return isLocalhost(a) && localhostAddr(pb)
	}
	a, b = strings.TrimSuffix(a, "."), strings.TrimSuffix(b, ".")
	return strings.EqualFold(a, b) || (isLocalhost(a) && isLocalhost(b))
}

// isLocalhost reports whether a host name is localhost or a name under
// it, which always stand for the loopback interface.
func isLocalhost(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// localhostAddr reports whether a listener on localhost may take a: Go's
// net.Listen picks one of the name's addresses, 127.0.0.1 or ::1 as the
// hosts file gives them.
func localhostAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || a == netip.IPv6Loopback()
}

func anyHost(h string) bool {
	if h == "" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsUnspecified()
}

// checkListenClashes reports every target that listens where an earlier
// one (in file order) already does. Port 0 never clashes: each gets a free
// port of its own.
func (d *decoder) checkListenClashes(targets []listenAt) {
	byPort := make(map[string][]listenAt)
	for _, t := range targets {
		host, port, err := net.SplitHostPort(t.addr)
		if err != nil {
			continue
		}
		if n, _ := strconv.Atoi(port); n == 0 {
			continue
		}
		t.host = host
		for _, prev := range byPort[port] {
			if listenClash(prev.host, host) {
				d.add(t.node, scope{target: t.target}, "listen.address",
					"target %q already listens on %s (line %d); two targets may not listen on one address",
					prev.target, quoteShort(prev.node.Value), prev.node.Line)
				break
			}
		}
		byPort[port] = append(byPort[port], t)
	}
}

// resolveListen checks the listen section of a resolved target: with an
// address it needs users; without one, a target's own listen settings are a
// mistake, and the section's defaults are dropped.
func (d *decoder) resolveListen(t *Target, key *yaml.Node, own *layer) {
	sc := scope{target: t.Name}
	if own[slotListenAddress].node == nil {
		if n := own[slotListen].node; n != nil {
			d.add(n, sc, "listen.address", "missing; a listen section needs the address apps connect to (host:port, e.g. 127.0.0.1:7219)")
		}
		t.Listen = Listen{}
		return
	}
	if t.Listen.Users.enc == "" && own[slotListenUsers].node == nil {
		d.add(own[slotListen].node, sc, "listen.users", "missing; list the users apps log in as (- {username: web, password_file: web.txt})")
	}
}
