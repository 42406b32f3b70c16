package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// Defaults applied to zero-valued Options fields.
const (
	DefaultMaxClients   = 1000
	DefaultAuthTimeout  = 5 * time.Second
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultMaxPipeline  = 64
	DefaultClientBuffer = 1 << 20
	DefaultMaxInFlight  = 512
)

// User is one login the proxy accepts from applications.
type User struct {
	Username string
	// Password is compared in constant time and never printed.
	Password string
	// PasswordFunc, when set, is called at each login of this user for
	// the password to compare (Password is then ignored), so that a
	// password kept in a file applies to the next login as soon as the
	// file changes. An error refuses the login. It must return quickly
	// and its error must not hold the password.
	PasswordFunc func() (string, error)
}

// String shows the user name only.
func (u User) String() string { return fmt.Sprintf("{Username:%q Password:<secret>}", u.Username) }

// GoString masks the password for %#v too.
func (u User) GoString() string { return "proxy.User" + u.String() }

// Options configure a Proxy. A zero field takes its default; New and Update
// copy the struct and never write to the caller's value. Every field can
// change live with Update: Users, MaxClients and AuthTimeout apply to the
// next connections, the other limits to the next authenticated clients.
type Options struct {
	// Users are the logins the proxy accepts, checked by the proxy itself
	// (nothing reaches the server before a client has logged in). Names
	// must be unique and non-empty, passwords non-empty. Empty: every login
	// fails. Default none.
	Users []User
	// MaxClients bounds the client connections open at once, logged in or
	// not. One more is read its auth frame, answered with an "Error"
	// naming the limit, and closed. Default 1000.
	MaxClients int
	// AuthTimeout is how long a new client has to send its auth frame;
	// a client that stays silent is closed then, without delaying anyone
	// else. Default 5s.
	AuthTimeout time.Duration
	// ReadTimeout bounds the arrival of one request frame once its first
	// byte came: a client trickling a frame is closed. An idle client (no
	// frame begun) is never timed out. Default 10s.
	ReadTimeout time.Duration
	// WriteTimeout is how long a client may leave its replies unread
	// (its socket accepting no byte) before it is closed. Default 10s.
	WriteTimeout time.Duration
	// MaxPipeline bounds the requests of one client that are in flight
	// or whose reply is not yet written, pub/sub pushes included; at the
	// bound the proxy stops reading that client. Default 64.
	MaxPipeline int
	// ClientBuffer bounds, in bytes, what one client holds in the proxy:
	// its requests in flight and the replies received from the server and
	// not yet written to it. Past it the proxy reads no new request from
	// that client until replies are written (and the client is closed if
	// they are not within WriteTimeout). Default 1 MiB.
	ClientBuffer int
	// MaxInFlight bounds the requests of all clients in flight to the
	// backend at once; more wait in the proxy, in arrival order, and
	// their clients are not read meanwhile. Keep it within what the
	// backend takes without refusing: for a fleare.Client, PoolSize x
	// Pipeline (fleare.DefaultPipeline when 0) + MaxQueue. Default 512.
	MaxInFlight int
	// Dial opens a dedicated, authenticated connection to the server for
	// a client that subscribes (pub/sub cannot share pooled connections).
	// Use fleare.Dial, which opens connections to one server one after
	// another. Default nil: SUBSCRIBE closes the client's connection.
	Dial func(ctx context.Context) (*fleare.Conn, error)
	// OnEvent receives client-limit hits, authentication failures and
	// clients closed by a limit, from the client's goroutine; it must
	// return quickly. Events never hold a password. Default nil.
	OnEvent func(Event)
}

// settings are Options with defaults applied and users indexed.
type settings struct {
	Options
	users map[string]User
}

// newSettings validates o and applies its defaults.
func newSettings(o Options) (*settings, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &settings{Options: o, users: make(map[string]User, len(o.Users))}
	s.Users = nil // keep passwords in one place only
	for _, u := range o.Users {
		s.users[u.Username] = u
	}
	s.MaxClients = orDefault(s.MaxClients, DefaultMaxClients)
	s.AuthTimeout = orDefault(s.AuthTimeout, DefaultAuthTimeout)
	s.ReadTimeout = orDefault(s.ReadTimeout, DefaultReadTimeout)
	s.WriteTimeout = orDefault(s.WriteTimeout, DefaultWriteTimeout)
	s.MaxPipeline = orDefault(s.MaxPipeline, DefaultMaxPipeline)
	s.ClientBuffer = orDefault(s.ClientBuffer, DefaultClientBuffer)
	s.MaxInFlight = orDefault(s.MaxInFlight, DefaultMaxInFlight)
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// validate reports every problem of o, before defaults.
func (o Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("proxy: options: "+format, args...))
	}
	seen := make(map[string]bool, len(o.Users))
	for i, u := range o.Users {
		switch {
		case u.Username == "":
			bad("user %d has an empty name", i)
		case seen[u.Username]:
			bad("user %q is listed twice", u.Username)
		case u.Password == "" && u.PasswordFunc == nil:
			bad("user %q has an empty password (the server protocol cannot send one)", u.Username)
		}
		seen[u.Username] = true
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxClients", int64(o.MaxClients)}, {"MaxPipeline", int64(o.MaxPipeline)}, {"MaxInFlight", int64(o.MaxInFlight)},
		{"ClientBuffer", int64(o.ClientBuffer)}, {"AuthTimeout", int64(o.AuthTimeout)},
		{"ReadTimeout", int64(o.ReadTimeout)}, {"WriteTimeout", int64(o.WriteTimeout)},
	} {
		if f.v < 0 {
			bad("%s is negative (0 for the default)", f.name)
		}
	}
	return errors.Join(errs...)
}
