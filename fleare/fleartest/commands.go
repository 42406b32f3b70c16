package fleartest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// kind is what a key holds, as the real server records it: SET stores a
// plain value, STR.SET a string, NUM.SET a number.
type kind int

const (
	kindPlain kind = iota
	kindString
	kindNumber
)

type entry struct {
	value string
	kind  kind
}

// store is the server's keyspace. It survives Stop, Restart and crashes, as
// the real server's write-ahead log does.
type store struct {
	mu sync.Mutex
	kv map[string]entry // guarded by mu
}

func newStore() *store { return &store{kv: make(map[string]entry)} }

func (st *store) get(key string) (entry, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.kv[key]
	return e, ok
}

func (st *store) set(key string, e entry) {
	st.mu.Lock()
	st.kv[key] = e
	st.mu.Unlock()
}

// Error texts of the real server (a newline is added to each).
const (
	errUnknownCommand = `InvalidCommandError: The system could not process your request due to an unrecognized command input -> "%s"`
	errSetArgs        = "InvalidArgumentError: Key and value must be provided"
	errKeyMissing     = "InvalidKeyError: Key must be provided"
	errArgCount       = "InvalidArgumentError: invalid number of arguments"
	errDeleteArgs     = "InvalidArgumentError: Key must be provided, example: DELETE key"
	errBadKey         = "InvalidKeyError: invalid key, must be a string and at least 1 to 200 characters long"
	errNotString      = "InvalidValueError: the existing value for the provided key must be a string"
	errNotNumber      = "InvalidValueError: the existing value for the provided key must be a number"
	errBadNumber      = "InvalidValueError: provided value is not a valid number"
	errPublishArgs    = "missing topic or message for publish" // no newline, as on the real server
)

// result is a command's outcome. Error texts get a newline, as the real
// server's do, unless bare.
type result struct {
	value string
	err   string
	bare  bool // err is sent as is
	// noID leaves the reply's client id empty, as the real server does on
	// "Ok" replies to SET, GET and DELETE.
	noID bool
	// silent sends no reply at all (SUBSCRIBE, UNSUBSCRIBE).
	silent bool
	// crash kills the server (STR.GET or NUM.GET of a missing key, with
	// CrashOnMissingKey).
	crash bool
}

func ok(v string) result           { return result{value: v} }
func okNoID(v string) result       { return result{value: v, noID: true} }
func fail(format string) result    { return result{err: format} }
func failf(f string, a any) result { return result{err: fmt.Sprintf(f, a)} }

type handler func(s *Server, sc *serverConn, args []string) result

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"PING":        cmdPing,
		"STATUS":      cmdStatus,
		"SESSION":     cmdSession,
		"SET":         cmdSet,
		"GET":         cmdGet,
		"DELETE":      cmdDelete,
		"EXISTS":      cmdExists,
		"STR.SET":     cmdStrSet,
		"STR.GET":     cmdStrGet,
		"NUM.SET":     cmdNumSet,
		"NUM.GET":     cmdNumGet,
		"SUBSCRIBE":   cmdSubscribe,
		"UNSUBSCRIBE": cmdUnsubscribe,
		"PUBLISH":     cmdPublish,
	}
}

// exec runs one command and fills resp; names are case-insensitive. A
// reply with an empty status is not sent. It reports false when the
// command crashed the server.
func (s *Server) exec(sc *serverConn, cmd *wire.Command, resp *wire.Response) bool {
	h, found := handlers[strings.ToUpper(cmd.GetCommand())]
	r := failf(errUnknownCommand, cmd.GetCommand())
	if found {
		r = h(s, sc, cmd.GetArgs())
	}
	switch {
	case r.crash:
		s.crash()
		return false
	case r.silent:
		return true
	case r.err != "":
		resp.ClientId, resp.Status = sc.id, "Error"
		if r.bare {
			resp.Result = []byte(r.err)
		} else {
			resp.Result = []byte(r.err + "\n")
		}
		return true
	}
	resp.Status, resp.Result = "Ok", []byte(r.value)
	if !r.noID {
		resp.ClientId = sc.id
	}
	return true
}

// validKey reports whether key is 1 to 200 bytes long, the real server's
// rule.
func validKey(key string) bool { return len(key) >= 1 && len(key) <= 200 }

func cmdPing(_ *Server, _ *serverConn, args []string) result {
	return ok("PONG " + strings.Join(args, " "))
}

func cmdStatus(s *Server, _ *serverConn, _ []string) result {
	s.data.mu.Lock()
	keys, size := len(s.data.kv), 0
	for _, e := range s.data.kv {
		size += len(e.value)
	}
	s.data.mu.Unlock()
	st := map[string]any{
		"server_status": "running",
		"up_time":       time.Now().UTC().Format(time.RFC3339Nano),
		"shard_info": map[string]any{
			"0": map[string]any{
				"ID":           "0",
				"host_address": s.addr,
				"key_length":   keys,
				"name":         "Shard 0",
				"total_size":   fmt.Sprintf("%d bytes", size),
			},
			"shard_count": 1,
		},
	}
	b, _ := json.Marshal(st)
	return ok(string(b))
}

func cmdSession(_ *Server, sc *serverConn, _ []string) result {
	sess := map[string]any{
		"session_id":       sc.id,
		"created_at":       sc.createdAt.Format(time.RFC3339Nano),
		"last_accessed_at": time.Now().UTC().Format(time.RFC3339Nano),
		"status":           1,
		"user":             map[string]any{"Username": sc.user, "Password": "*******", "Role": "Admin"},
	}
	b, _ := json.Marshal(sess)
	return ok(string(b))
}

func cmdSet(s *Server, _ *serverConn, args []string) result {
	switch {
	case len(args) != 2:
		return fail(errSetArgs)
	case !validKey(args[0]):
		return fail(errBadKey)
	}
	s.data.set(args[0], entry{value: args[1], kind: kindPlain})
	return okNoID("")
}

func cmdGet(s *Server, _ *serverConn, args []string) result {
	switch {
	case len(args) == 0:
		return fail(errKeyMissing)
	case len(args) > 2:
		return fail(errArgCount)
	case !validKey(args[0]):
		return fail(errBadKey)
	}
	e, found := s.data.get(args[0])
	if !found || len(args) == 1 {
		return okNoID(e.value)
	}
	return jsonPath(e.value, args[1])
}

// jsonPath returns the JSON encoding of the value at a dotted path inside a
// JSON object (a string comes back quoted), or "" when the path does not
// lead anywhere.
func jsonPath(doc, path string) result {
	var cur map[string]any
	if err := json.Unmarshal([]byte(doc), &cur); err != nil {
		return fail("InvalidCharacterError: " + err.Error())
	}
	keys := strings.Split(path, ".")
	for i, k := range keys {
		v, found := cur[k]
		if !found {
			return okNoID("")
		}
		if i == len(keys)-1 {
			if v == nil {
				return okNoID("")
			}
			b, _ := json.Marshal(v)
			return okNoID(string(b))
		}
		if cur, found = v.(map[string]any); !found {
			return okNoID("")
		}
	}
	return okNoID("")
}

func cmdDelete(s *Server, _ *serverConn, args []string) result {
	switch {
	case len(args) != 1:
		return fail(errDeleteArgs)
	case !validKey(args[0]):
		return fail(errBadKey)
	}
	s.data.mu.Lock()
	delete(s.data.kv, args[0])
	s.data.mu.Unlock()
	return okNoID("")
}

func cmdExists(s *Server, _ *serverConn, args []string) result {
	if len(args) == 0 {
		return fail(errKeyMissing)
	}
	n := 0
	s.data.mu.Lock()
	for _, k := range args {
		if _, found := s.data.kv[k]; found {
			n++
		}
	}
	s.data.mu.Unlock()
	if !s.opts.ExactExists {
		n = int(int8(n)) // the real server counts in an int8
	}
	return ok(strconv.Itoa(n))
}

// typedArgs checks the arguments of STR.* and NUM.* commands.
func typedArgs(args []string, want int) (result, bool) {
	switch {
	case len(args) == 0:
		return fail(errKeyMissing), false
	case len(args) != want:
		return fail(errArgCount), false
	case !validKey(args[0]):
		return fail(errBadKey), false
	}
	return result{}, true
}

func cmdStrSet(s *Server, _ *serverConn, args []string) result {
	if r, good := typedArgs(args, 2); !good {
		return r
	}
	s.data.set(args[0], entry{value: args[1], kind: kindString})
	return ok("")
}

func cmdNumSet(s *Server, _ *serverConn, args []string) result {
	if r, good := typedArgs(args, 2); !good {
		return r
	}
	n, err := strconv.ParseInt(args[1], 10, 64)
	f := float64(n)
	if err != nil {
		if f, err = strconv.ParseFloat(args[1], 64); err != nil {
			return fail(errBadNumber)
		}
	}
	b, err := json.Marshal(f)
	if err != nil { // NaN or an infinity
		return fail(errBadNumber)
	}
	s.data.set(args[0], entry{value: string(b), kind: kindNumber})
	return ok("")
}

func cmdStrGet(s *Server, _ *serverConn, args []string) result {
	return typedGet(s, args, kindString, errNotString)
}

func cmdNumGet(s *Server, _ *serverConn, args []string) result {
	return typedGet(s, args, kindNumber, errNotNumber)
}

// typedGet is STR.GET and NUM.GET: a missing key crashes the real server.
func typedGet(s *Server, args []string, want kind, wrongKind string) result {
	if r, good := typedArgs(args, 1); !good {
		return r
	}
	e, found := s.data.get(args[0])
	switch {
	case !found && s.opts.CrashOnMissingKey:
		return result{crash: true}
	case !found:
		return ok("")
	case e.kind != want:
		return fail(wrongKind)
	}
	return ok(e.value)
}
