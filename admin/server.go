package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

// Defaults for zero Options fields.
const (
	// DefaultMaxBodyBytes bounds a request body; a larger one gets 413.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultHistory is how many recent events the server keeps for
	// GET /v1/events.
	DefaultHistory = 256
	// DefaultBodyTimeout bounds the time to read a request body.
	DefaultBodyTimeout = 10 * time.Second
	// DefaultMaxParses bounds the configurations parsed at the same time
	// (apply, dry run and diff); further requests wait for their turn,
	// until their client gives up. Parsing a 4 MiB file can take a few
	// hundred MB and a second of CPU.
	DefaultMaxParses = 2
	// maxFileName bounds the file query parameter, which errors repeat.
	maxFileName = 1024
	// DefaultWriteTimeout bounds each write of an event stream to a client
	// that does not read.
	DefaultWriteTimeout = 10 * time.Second
)

// Options configure a Server. A zero field takes its default.
type Options struct {
	// MaxBodyBytes bounds request bodies; a larger body is refused with 413
	// Request Entity Too Large. Default 4 MiB.
	MaxBodyBytes int64
	// History is how many recent events GET /v1/events returns before
	// following live ones. Default 256.
	History int
	// Logger receives one record per configuration request (apply, dry run,
	// diff, rejected dry run or diff; a rejected apply is the manager's
	// event, logged by the manager). Default nil: no logging.
	Logger *slog.Logger
	// MaxParses bounds the configurations parsed at the same time.
	// Default DefaultMaxParses (2).
	MaxParses int

	// AllowVar says which variables ${NAME} may read in a configuration
	// sent to the API, which is parsed in the server's environment: a
	// reference to any other is a problem, and the variable is not read.
	// Default nil: none (configurations that arrive over the API must not
	// read the server's environment unless its operator says so).
	AllowVar func(name string) bool
	// SecretDirs are the directories a password_file of a configuration
	// sent to the API may be in (every link resolved; subdirectories
	// included). Default nil: none, so such a configuration can name no
	// password_file.
	SecretDirs []string
}

// Server is the admin API of a manager, as an http.Handler. Create it with
// NewServer before the manager applies its first configuration, so that the
// event history holds it, and Close it before closing the manager.
//
// It does no authentication of its own: serve it on a socket made by
// ListenUnix, or wrap it with RequireToken for TCP.
type Server struct {
	m    *manager.Manager
	opts Options
	mux  *http.ServeMux
	hist *history

	parser spec.Parser   // for configurations sent to the API
	parses chan struct{} // one token per parse in progress

	done        chan struct{} // closed by Close: event streams end
	closeOnce   sync.Once
	unsubscribe func()
}

// NewServer returns the admin API of m. It observes m's events from now on
// (see manager.Manager.Observe) and keeps the last Options.History of them.
func NewServer(m *manager.Manager, o Options) *Server {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.History <= 0 {
		o.History = DefaultHistory
	}
	if o.MaxParses <= 0 {
		o.MaxParses = DefaultMaxParses
	}
	s := &Server{m: m, opts: o, mux: http.NewServeMux(), hist: newHistory(o.History), done: make(chan struct{}),
		parser: apiParser(o), parses: make(chan struct{}, o.MaxParses)}
	// Recorded as they are emitted: an event is in the history before the
	// request that caused it is answered.
	s.unsubscribe = m.Observe(s.hist.add, s.hist.close)
	s.mux.HandleFunc("GET /v1/status", s.status)
	s.mux.HandleFunc("GET /v1/config", s.config)
	s.mux.HandleFunc("POST /v1/apply", s.apply)
	s.mux.HandleFunc("POST /v1/diff", s.diff)
	s.mux.HandleFunc("GET /v1/events", s.events)
	s.controlRoutes()
	return s
}

// Handle registers h for pattern (http.ServeMux syntax, such as
// "GET /metrics") next to the API's own routes, behind the same listener
// and authentication. It is the place for endpoints the program adds.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close ends every event stream and stops recording events. Requests other
// than streams are not interrupted: shut the http.Server down for that (it
// can call Close through RegisterOnShutdown). Close is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.unsubscribe()
		s.hist.close()
	})
}

// policyHint says, in problems that the trust limits cause, how to lift
// them: these are flearectl serve's flags for Options.AllowVar and
// Options.SecretDirs.
const policyHint = "the manager's operator lists what configurations sent to its admin API may read: flearectl serve --api-env, --api-env-prefix, --secrets-dir"

// apiParser is the parser of configurations sent to the API: variables
// and password files only as o allows.
func apiParser(o Options) spec.Parser {
	p := spec.Parser{AllowVar: o.AllowVar, SecretDirs: o.SecretDirs, PolicyHint: policyHint}
	if p.AllowVar == nil {
		p.AllowVar = func(string) bool { return false }
	}
	if p.SecretDirs == nil {
		p.SecretDirs = []string{}
	}
	return p
}

// RequireToken wraps h so that every request must carry
// "Authorization: Bearer <token>" (the scheme in any case, RFC 7235);
// others get 401 Unauthorized, and their connection is closed. The
// comparison takes the same time whatever the presented token, its length
// included. An empty token lets no request through.
func RequireToken(token string, h http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fleare-manager"`)
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required", nil)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearer returns the token of an Authorization header value of the Bearer
// scheme: the scheme matched without regard to case, then one or more
// spaces (RFC 6750).
func bearer(auth string) (string, bool) {
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimLeft(tok, " ")
	return tok, tok != ""
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	st := s.m.Status()
	setETag(w, st.Hash)
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) config(w http.ResponseWriter, _ *http.Request) {
	cfg := s.m.Config()
	if cfg == nil {
		writeError(w, http.StatusNotFound, "no configuration applied yet", nil)
		return
	}
	setETag(w, s.m.Status().Hash)
	data, err := spec.Marshal(cfg)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "render configuration: "+err.Error(), nil)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// readConfig reads and parses the configuration in r's body, and returns it
// with the body. It answers the request itself and returns false when the body is too large or invalid;
// with record, an invalid configuration is also recorded in the manager
// (its status and events) as a rejected reload. At most
// Options.MaxParses requests read and parse at once.
func (s *Server) readConfig(w http.ResponseWriter, r *http.Request, record bool) (*spec.Config, []byte, bool) {
	name, ok := fileName(w, r)
	if !ok {
		return nil, nil, false
	}
	select {
	case s.parses <- struct{}{}:
		defer func() { <-s.parses }()
	case <-r.Context().Done():
		writeError(w, http.StatusServiceUnavailable, "gave up waiting for a turn to parse", nil)
		return nil, nil, false
	}
	data, ok := s.readBody(w, r)
	if !ok {
		return nil, nil, false
	}
	cfg, err := s.parser.Parse(name, data)
	if err != nil {
		n := spec.Count(err)
		if record {
			s.m.Reject(name, err) // the manager's event is the log record
		} else {
			s.log("admin: configuration rejected; nothing changed", "file", name, "problems", n)
		}
		writeError(w, http.StatusBadRequest,
			fmt.Sprintf("configuration rejected (%d problem(s)); nothing changed", n), spec.Lines(err))
		return nil, nil, false
	}
	return cfg, data, true
}

// fileName returns the configuration's name from the file parameter. It
// answers the request itself and returns false when it is not acceptable.
func fileName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.URL.Query().Get("file")
	switch {
	case name == "":
		return "request", true
	case name == StdinFile:
		return "<stdin>", true
	case len(name) > maxFileName:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("file is longer than %d bytes", maxFileName), nil)
		return "", false
	case !filepath.IsAbs(name):
		writeError(w, http.StatusBadRequest, "file must be an absolute path (it names the configuration in errors, and relative password_file paths resolve against its directory)", nil)
		return "", false
	}
	return name, true
}

// readBody reads r's body, at most Options.MaxBodyBytes within
// DefaultBodyTimeout. It answers the request itself and returns false when
// it cannot.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(DefaultBodyTimeout))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err == nil {
		return data, true
	}
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the configuration is larger than %d bytes", mbe.Limit), nil)
		return nil, false
	}
	writeError(w, http.StatusBadRequest, "read request body: "+err.Error(), nil)
	return nil, false
}

// events writes the event history as newline-delimited JSON, then, with
// follow=1, each new event until the client goes, or Close.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	follow := flag(r, "follow")
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	var seq uint64
	for {
		evs, next, wake, closed := s.hist.since(seq)
		seq = next
		_ = rc.SetWriteDeadline(time.Now().Add(DefaultWriteTimeout))
		for _, e := range evs {
			if enc.Encode(e) != nil {
				return
			}
		}
		if !follow || closed || rc.Flush() != nil {
			return
		}
		select {
		case <-wake:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

func (s *Server) log(msg string, args ...any) {
	if s.opts.Logger != nil {
		s.opts.Logger.Info(msg, args...)
	}
}

// flag reports whether the query parameter name is set to a true value
// ("1", "true", ...).
func flag(r *http.Request, name string) bool {
	v, err := strconv.ParseBool(r.URL.Query().Get(name))
	return err == nil && v
}

// writeJSON writes v as the reply's JSON body, leaving <, > and & as they
// are (the reply is JSON, never HTML).
func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		_ = enc.Encode(ErrorReply{Error: "encode reply: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, code int, msg string, errs []string) {
	writeJSON(w, code, ErrorReply{Error: msg, Errors: errs})
}
