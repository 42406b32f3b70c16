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

// store is the server's keyspace. It survives Stop and Restart, as the real
// server's write-ahead log does.
type store struct {
	mu sync.Mutex
	kv map[string]string // guarded by mu
}

func newStore() *store { return &store{kv: make(map[string]string)} }

// Error texts of the real server.
const (
	errUnknownCommand = `InvalidCommandError: The system could not process your request due to an unrecognized command input -> "%s"`
	errSetArgs        = "InvalidArgumentError: Key and value must be provided"
	errKeyMissing     = "InvalidKeyError: Key must be provided"
	errGetArgs        = "InvalidArgumentError: invalid number of arguments"
	errDeleteArgs     = "InvalidArgumentError: Key must be provided, example: DELETE key"
	errEmptyKey       = "InvalidKeyError: key cannot be empty"
)

type handler func(s *Server, sc *serverConn, args []string) (string, error)

var handlers = map[string]handler{
	"PING":    cmdPing,
	"STATUS":  cmdStatus,
	"SESSION": cmdSession,
	"SET":     cmdSet,
	"GET":     cmdGet,
	"DELETE":  cmdDelete,
	"EXISTS":  cmdExists,
}

// exec runs one command and returns the reply's status and result. Names
// are case-insensitive; error results end in a newline, as the real
// server's do.
func (s *Server) exec(sc *serverConn, cmd *wire.Command) (status string, result []byte) {
	h, ok := handlers[strings.ToUpper(cmd.GetCommand())]
	if !ok {
		return "Error", []byte(fmt.Sprintf(errUnknownCommand, cmd.GetCommand()) + "\n")
	}
	out, err := h(s, sc, cmd.GetArgs())
	if err != nil {
		return "Error", []byte(err.Error() + "\n")
	}
	return "Ok", []byte(out)
}

type replyError string

func (e replyError) Error() string { return string(e) }

func cmdPing(_ *Server, _ *serverConn, args []string) (string, error) {
	return "PONG " + strings.Join(args, " "), nil
}

func cmdStatus(s *Server, _ *serverConn, _ []string) (string, error) {
	s.data.mu.Lock()
	keys, size := len(s.data.kv), 0
	for _, v := range s.data.kv {
		size += len(v)
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
	b, err := json.Marshal(st)
	return string(b), err
}

func cmdSession(_ *Server, sc *serverConn, _ []string) (string, error) {
	sess := map[string]any{
		"session_id":       sc.id,
		"created_at":       sc.createdAt.Format(time.RFC3339Nano),
		"last_accessed_at": time.Now().UTC().Format(time.RFC3339Nano),
		"status":           1,
		"user":             map[string]any{"Username": sc.user, "Password": "*******", "Role": "Admin"},
	}
	b, err := json.Marshal(sess)
	return string(b), err
}

func cmdSet(s *Server, _ *serverConn, args []string) (string, error) {
	if len(args) != 2 {
		return "", replyError(errSetArgs)
	}
	if args[0] == "" {
		return "", replyError(errEmptyKey)
	}
	s.data.mu.Lock()
	s.data.kv[args[0]] = args[1]
	s.data.mu.Unlock()
	return "", nil
}

func cmdGet(s *Server, _ *serverConn, args []string) (string, error) {
	switch {
	case len(args) == 0:
		return "", replyError(errKeyMissing)
	case len(args) > 2:
		return "", replyError(errGetArgs)
	case args[0] == "":
		return "", replyError(errEmptyKey)
	}
	s.data.mu.Lock()
	v, ok := s.data.kv[args[0]]
	s.data.mu.Unlock()
	if !ok || len(args) == 1 {
		return v, nil
	}
	return jsonPath(v, args[1])
}

// jsonPath returns the value at a dotted path inside a JSON object, or ""
// when the path does not lead anywhere.
func jsonPath(doc, path string) (string, error) {
	var cur any
	if err := json.Unmarshal([]byte(doc), &cur); err != nil {
		return "", replyError("InvalidCharacterError: " + err.Error())
	}
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", nil
		}
		if cur, ok = m[k]; !ok {
			return "", nil
		}
	}
	if s, ok := cur.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(cur)
	return string(b), err
}

func cmdDelete(s *Server, _ *serverConn, args []string) (string, error) {
	if len(args) != 1 {
		return "", replyError(errDeleteArgs)
	}
	if args[0] == "" {
		return "", replyError(errEmptyKey)
	}
	s.data.mu.Lock()
	delete(s.data.kv, args[0])
	s.data.mu.Unlock()
	return "", nil
}

func cmdExists(s *Server, _ *serverConn, args []string) (string, error) {
	if len(args) == 0 {
		return "", replyError(errKeyMissing)
	}
	n := 0
	s.data.mu.Lock()
	for _, k := range args {
		if _, ok := s.data.kv[k]; ok {
			n++
		}
	}
	s.data.mu.Unlock()
	return strconv.Itoa(n), nil
}
