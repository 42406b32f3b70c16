package proxy

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// msgUnknownCommand is the real server's answer to a command it does not
// know (a format for the command's name).
const msgUnknownCommand = "InvalidCommandError: The system could not process your request due to an unrecognized command input -> \"%s\"\n"

// refusal decides whether a request must not reach the server, and with
// which "Error" text the proxy answers it instead. It is the one place
// that knows which commands endanger the server: STR.GET and NUM.GET of a
// missing key kill the real server, and no safe equivalent keeps their
// meaning (checking that the key exists first leaves a window in which
// another client deletes it), so they are refused whatever their
// arguments. AUTH after the login is refused too: it would hand the app's
// credentials to the server, which never sees the apps' logins, and could
// change the login of a pooled connection that other apps share. The name is compared without case (as the server reads it)
// and by its first word: whether the server trims blanks around a name,
// or splits one holding spaces, is not known, so no such spelling gets
// through either.
func refusal(command string, _ []string) (msg string, refused bool) {
	word := strings.TrimLeftFunc(command, unicode.IsSpace) // no allocation: every request comes here
	if i := strings.IndexFunc(word, unicode.IsSpace); i >= 0 {
		word = word[:i]
	}
	if strings.EqualFold(word, "AUTH") {
		return "ProxyError: AUTH is refused by the proxy: an app logs in once, with its first frame; the server's connections are logged in by the manager\n", true
	}
	for _, c := range [...]string{"STR.GET", "NUM.GET"} {
		if strings.EqualFold(word, c) {
			return "ProxyError: " + c + " is refused by the proxy: it crashes the Fleare server when the key is missing; use GET\n", true
		}
	}
	return "", false
}

// readOnly reports whether a command is known to change nothing, so that
// a client's consecutive read-only requests may run at the same time
// without changing what they return. Anything else runs alone, in order.
func readOnly(command string) bool {
	for _, c := range [...]string{"GET", "PING", "EXISTS", "STATUS", "SESSION"} {
		if strings.EqualFold(command, c) {
			return true
		}
	}
	return false
}

// invalidFormat is the text of the "Error" reply to a request frame that
// is not a Command, as the real server words it. The protobuf library
// puts a non-breaking space after "proto:" in some builds (to discourage
// comparing its errors); apps get the plain space the server sends,
// whichever build of the proxy they talk to.
func invalidFormat(err error) string {
	return "invalid command format: " + strings.ReplaceAll(err.Error(), "\u00a0", " ") + "\n"
}

// backendFailure is the text of the "Error" reply for a request the
// backend failed (no connection, timeout...). Errors from package fleare
// never hold a password.
func backendFailure(err error) string {
	return "ProxyError: " + strings.TrimSpace(err.Error()) + "\n"
}

// sessionInfo is a SESSION reply, its fields in the real server's order.
type sessionInfo struct {
	SessionID string `json:"session_id"`
	User      struct {
		Username string
		Password string
		Role     string
	} `json:"user"`
	Status         int    `json:"status"`
	CreatedAt      string `json:"created_at"`
	LastAccessedAt string `json:"last_accessed_at"`
}

// sessionReply rewrites the server's answer to SESSION, which describes the
// pooled connection, to describe the client's own login: its client id,
// user name and login time. The role and status are the server's (the
// client's requests run with the pooled connection's rights).
func (s *session) sessionReply(r fleare.Reply) fleare.Reply {
	if r.Status != "Ok" {
		return r
	}
	var info sessionInfo
	if err := json.Unmarshal(r.Result, &info); err != nil {
		info = sessionInfo{Status: 1}
	}
	info.SessionID = s.id
	info.User.Username, info.User.Password = s.user, "*******"
	info.CreatedAt = s.created.Format(time.RFC3339Nano)
	info.LastAccessedAt = time.Now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(&info)
	if err != nil {
		return r // cannot happen: the struct holds strings and an int
	}
	return fleare.Reply{Status: "Ok", Result: b, ClientID: s.id}
}
