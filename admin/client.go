package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/reconcile"
)

// maxReply bounds a reply body the Client reads, and maxEventLine one line
// of an event stream; dialTimeout bounds a connect, whatever the request's
// context allows.
const (
	maxReply     = 64 << 20
	maxEventLine = 1 << 20
	dialTimeout  = 10 * time.Second
)

// ErrorReply is the body of every error reply of the API.
type ErrorReply struct {
	// Error says what went wrong.
	Error string `json:"error"`
	// Errors lists every problem of a rejected configuration, each as
	// file:line:col: target "name": field: what is wrong.
	Errors []string `json:"errors,omitempty"`
}

// applyReply is the server's reply to apply and diff. Its JSON form is
// ApplyResult's.
type applyReply struct {
	FormatVersion int               `json:"format_version"`
	DryRun        bool              `json:"dry_run"`
	Generation    uint64            `json:"generation"`
	Plan          reconcile.Plan    `json:"plan"`
	Outcomes      []manager.Outcome `json:"outcomes,omitempty"`
}

// ApplyResult is the reply to POST /v1/apply and POST /v1/diff.
type ApplyResult struct {
	// FormatVersion is the version of the JSON conventions the reply
	// follows (manager.FormatVersion).
	FormatVersion int `json:"format_version"`
	// DryRun is true when nothing was executed (dry run, diff).
	DryRun bool `json:"dry_run"`
	// Generation is the configuration generation after the apply (now, for
	// a dry run).
	Generation uint64 `json:"generation"`
	// Plan is the plan executed, or that would be.
	Plan reconcile.Plan `json:"plan"`
	// Outcomes has one entry per action of an executed plan, in plan order.
	Outcomes []Outcome `json:"outcomes,omitempty"`
}

// Failed reports whether any action of the plan failed.
func (r *ApplyResult) Failed() bool {
	for _, o := range r.Outcomes {
		if o.Error != "" {
			return true
		}
	}
	return false
}

// Outcome is what became of one action (the JSON form of manager.Outcome).
type Outcome struct {
	Target string         `json:"target"`
	Action reconcile.Kind `json:"action"`
	// Took is how long the action ran, written as a duration string
	// ("1.5ms").
	Took time.Duration `json:"-"`
	// Error is why the action did not complete; "" if it did.
	Error string `json:"error,omitempty"`
}

type outcomeJSON struct {
	Target string         `json:"target"`
	Action reconcile.Kind `json:"action"`
	Took   string         `json:"took"`
	Error  string         `json:"error,omitempty"`
}

// MarshalJSON writes the outcome as manager.Outcome does.
func (o Outcome) MarshalJSON() ([]byte, error) {
	return json.Marshal(outcomeJSON{o.Target, o.Action, o.Took.String(), o.Error})
}

// UnmarshalJSON reads an outcome written by MarshalJSON.
func (o *Outcome) UnmarshalJSON(data []byte) error {
	var j outcomeJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	took, err := time.ParseDuration(j.Took)
	if err != nil {
		return fmt.Errorf("admin: outcome: took: %w", err)
	}
	*o = Outcome{Target: j.Target, Action: j.Action, Took: took, Error: j.Error}
	return nil
}

// APIError is an error reply of the API.
type APIError struct {
	// StatusCode is the HTTP status: 400 for a rejected configuration, 401
	// without a valid token, 413 for a body too large...
	StatusCode int
	// Message is the reply's error text.
	Message string
	// Errors lists every problem of a rejected configuration.
	Errors []string
	// Hash is the hash of the configuration in force (the reply's ETag),
	// when the reply gives it: with 412 Precondition Failed.
	Hash string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("admin: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// UnreachableError reports that the admin API could not be reached at all.
type UnreachableError struct {
	// Endpoint is the socket path or TCP address tried.
	Endpoint string
	// Err is why the connection failed (no such file, connection
	// refused...).
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("admin: cannot reach the manager at %s: %v", e.Endpoint, e.Err)
}

// Unwrap returns Err.
func (e *UnreachableError) Unwrap() error { return e.Err }

// ClientOptions say where the admin API is.
type ClientOptions struct {
	// Socket is the unix socket path, used when Addr is empty. Default
	// DefaultSocketPath().
	Socket string
	// Addr is the TCP address (host:port) of the API, when it is served
	// over TCP. Default "": use Socket.
	Addr string
	// Token is sent as a bearer token when not empty. Default "".
	Token string
}

// Client calls a manager's admin API. It is safe for concurrent use.
//
// Before each request over a unix socket it checks the socket with
// CheckSocket, and refuses (an *UnsafeSocketError) one that another user
// could have made or could replace, so that nothing (a configuration, a
// token) is ever sent to someone else's listener.
type Client struct {
	hc       *http.Client
	base     string // scheme and host of every URL
	endpoint string // for UnreachableError
	socket   string // the unix socket; "" over TCP
	token    string
}

// NewClient returns a Client for the API that o describes.
func NewClient(o ClientOptions) *Client {
	tr := &http.Transport{MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	c := &Client{hc: &http.Client{Transport: tr}, token: o.Token}
	dialer := &net.Dialer{Timeout: dialTimeout}
	if o.Addr != "" {
		c.base, c.endpoint = "http://"+o.Addr, o.Addr
		tr.DialContext = dialer.DialContext
		return c
	}
	sock := o.Socket
	if sock == "" {
		sock = DefaultSocketPath()
	}
	c.base, c.endpoint, c.socket = "http://fleare-manager", "unix socket "+sock, sock
	tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, "unix", sock)
	}
	return c
}

// Status returns the manager's status.
func (c *Client) Status(ctx context.Context) (manager.Status, error) {
	var st manager.Status
	err := c.call(ctx, http.MethodGet, "/v1/status", nil, nil, &st)
	return st, err
}

// Config returns the configuration in force, in the file format, passwords
// masked.
func (c *Client) Config(ctx context.Context) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/config", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, maxReply))
}

// Apply sends the configuration file read from file (data is its content)
// to the manager, which parses it in its own environment and applies it, or
// with dryRun only plans it. See ApplyWith.
func (c *Client) Apply(ctx context.Context, file string, data []byte, dryRun bool) (*ApplyResult, error) {
	return c.ApplyWith(ctx, file, data, ApplyOptions{DryRun: dryRun})
}

// ApplyOptions qualify an apply through the API.
type ApplyOptions struct {
	// DryRun only plans: nothing changes. Default false.
	DryRun bool
	// Force applies even while the manager watches a file, the source of
	// truth, which wins again at its next change, SIGHUP or a restart.
	// Default false: refused (409) while a file is watched.
	Force bool
	// ExpectGeneration, when not nil, is the generation the configuration
	// in force must have, or the apply is refused (412). Default nil.
	ExpectGeneration *uint64
	// IfMatch, when not "", is the hash the configuration in force must
	// have (Status().Hash), or "*" for any; sent as If-Match. Default "".
	IfMatch string
}

// ApplyWith sends the configuration file read from file (data is its
// content) to the manager, which parses it in its own environment and
// applies it as o says. file is made absolute (StdinFile is sent as it
// is): errors name it, and relative password_file paths resolve against its
// directory, on the manager's host. A configuration the manager rejects is
// an *APIError with StatusCode 400 and every problem in Errors; one the
// policy refuses, 409 (a watched file is the source of truth) or 412 (a
// precondition failed). Nothing changed then.
func (c *Client) ApplyWith(ctx context.Context, file string, data []byte, o ApplyOptions) (*ApplyResult, error) {
	q := url.Values{}
	if err := fileParam(q, file); err != nil {
		return nil, err
	}
	if o.DryRun {
		q.Set("dry_run", "1")
	}
	if o.Force {
		q.Set("force", "1")
	}
	if o.ExpectGeneration != nil {
		q.Set("expect_generation", strconv.FormatUint(*o.ExpectGeneration, 10))
	}
	h := http.Header{"Content-Type": {"application/yaml"}}
	if o.IfMatch == "*" {
		h.Set("If-Match", "*")
	} else if o.IfMatch != "" {
		h.Set("If-Match", `"`+o.IfMatch+`"`)
	}
	var res ApplyResult
	if err := c.call(ctx, http.MethodPost, "/v1/apply?"+q.Encode(), data, h, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Diff returns the plan that applying the file would execute, as Apply
// with dryRun does.
func (c *Client) Diff(ctx context.Context, file string, data []byte) (*ApplyResult, error) {
	q := url.Values{}
	if err := fileParam(q, file); err != nil {
		return nil, err
	}
	var res ApplyResult
	if err := c.call(ctx, http.MethodPost, "/v1/diff?"+q.Encode(), data, http.Header{"Content-Type": {"application/yaml"}}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func fileParam(q url.Values, file string) error {
	switch file {
	case "":
		return nil
	case StdinFile:
		q.Set("file", StdinFile)
		return nil
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	q.Set("file", abs)
	return nil
}

// Events calls fn with each event the manager keeps in its history, oldest
// first, and with follow, with each new event until ctx ends (then it
// returns nil) or the manager stops. An error from fn ends the stream and
// is returned.
func (c *Client) Events(ctx context.Context, follow bool, fn func(manager.Event) error) error {
	path := "/v1/events"
	if follow {
		path += "?follow=1"
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4<<10), maxEventLine)
	for sc.Scan() {
		var e manager.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("admin: events: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("admin: events: %w", err)
	}
	return nil
}

// call sends a request and decodes the JSON reply into out.
func (c *Client) call(ctx context.Context, method, path string, body []byte, h http.Header, out any) error {
	resp, err := c.do(ctx, method, path, body, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(out); err != nil {
		return fmt.Errorf("admin: %s %s: decode reply: %w", method, strings.SplitN(path, "?", 2)[0], err)
	}
	return nil
}

// do sends a request with the headers h and returns a 2xx response; any
// other status becomes an *APIError.
func (c *Client) do(ctx context.Context, method, path string, body []byte, h http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if err := c.checkSocket(); err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("admin: %s %s: %w", method, req.URL.Path, context.Cause(ctx))
		}
		if op := (*net.OpError)(nil); errors.As(err, &op) && op.Op == "dial" {
			return nil, &UnreachableError{Endpoint: c.endpoint, Err: op.Err}
		}
		return nil, fmt.Errorf("admin: %s %s: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	apiErr := &APIError{StatusCode: resp.StatusCode, Hash: strings.Trim(resp.Header.Get("ETag"), `"`)}
	var er ErrorReply
	if json.Unmarshal(data, &er) == nil && er.Error != "" {
		apiErr.Message, apiErr.Errors = er.Error, er.Errors
	} else {
		apiErr.Message = strings.TrimSpace(string(data))
	}
	return nil, apiErr
}

// checkSocket refuses a unix socket that may not be the user's; a missing
// one is an *UnreachableError.
func (c *Client) checkSocket() error {
	if c.socket == "" {
		return nil
	}
	err := CheckSocket(c.socket)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		return &UnreachableError{Endpoint: c.endpoint, Err: pe.Err}
	}
	return err
}

// Close releases the Client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }
