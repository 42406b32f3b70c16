package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

// StdinFile, as the file parameter of apply and diff, says that the
// configuration came from the client's standard input: errors name it
// "<stdin>", and a relative password_file resolves against the manager's
// working directory.
const StdinFile = "-"

// The policy of POST /v1/apply (see manager.ApplyOptions): while the
// manager watches a file, an apply without force=1 is refused with 409
// Conflict; with expect_generation=N or an
// If-Match header holding the configuration's hash (its ETag, as GET
// /v1/status and /v1/config give it) or "*", an apply made against a
// configuration that has changed since is refused with 412 Precondition
// Failed. Both are checked before the body is read, and again as the
// apply is made. Neither changes or records anything. Dry runs and diffs
// change nothing and are never refused.

func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	dryRun := flag(r, "dry_run")
	o, ok := applyOptions(w, r)
	if !ok {
		return
	}
	if !dryRun {
		if err := s.m.CheckApply(o); err != nil { // before the body is read or parsed
			s.refuse(w, r, err)
			return
		}
	}
	cfg, data, ok := s.readConfig(w, r, !dryRun)
	if !ok {
		return
	}
	if dryRun {
		s.plan(w, r, cfg, "dry run")
		return
	}
	o.Hash = sha256.Sum256(data)
	// A client that hangs up must not leave a plan half executed: the
	// apply runs to its end; Manager.Close cuts it short.
	ctx := context.WithoutCancel(r.Context())
	res, err := s.m.ApplyWith(ctx, cfg, o)
	if errors.Is(err, manager.ErrFileWins) || errors.Is(err, manager.ErrStale) {
		s.refuse(w, r, err)
		return
	}
	if len(res.Outcomes) == 0 && err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error(), nil)
		return
	}
	if !res.Plan.Empty() { // an unchanged configuration is the manager's one log line
		attrs := []any{"file", r.URL.Query().Get("file"), "generation", res.Generation, "plan", res.Plan.Summary().String()}
		if err != nil {
			attrs = append(attrs, "error", err.Error())
		}
		s.log("admin: configuration applied", attrs...)
	}
	writeJSON(w, http.StatusOK, applyReply{FormatVersion: manager.FormatVersion, Generation: res.Generation,
		Plan: res.Plan, Outcomes: res.Outcomes})
}

// applyOptions reads force, expect_generation and If-Match. It answers the
// request itself and returns false when one is malformed.
func applyOptions(w http.ResponseWriter, r *http.Request) (manager.ApplyOptions, bool) {
	o := manager.ApplyOptions{Force: flag(r, "force")}
	if v := r.URL.Query().Get("expect_generation"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("expect_generation %q is not a generation (0, 1, 2...)", v), nil)
			return o, false
		}
		o.IfGeneration = &n
	}
	if v := strings.TrimSpace(r.Header.Get("If-Match")); v != "" {
		tag, ok := parseETag(v)
		if !ok {
			writeError(w, http.StatusBadRequest, `If-Match: want "*" or one configuration hash in quotes`, nil)
			return o, false
		}
		o.IfHash = tag
	}
	return o, true
}

// parseETag reads an If-Match value: "*", or one strong entity tag (a
// quoted hash; the quotes may be left out).
func parseETag(v string) (string, bool) {
	if v == "*" {
		return manager.AnyHash, true
	}
	if strings.HasPrefix(v, `"`) {
		if len(v) < 3 || !strings.HasSuffix(v, `"`) {
			return "", false
		}
		v = v[1 : len(v)-1]
	}
	return v, v != "" && !strings.ContainsAny(v, `", `)
}

// setETag sets the reply's ETag to the configuration's hash, when known.
func setETag(w http.ResponseWriter, hash string) {
	if hash != "" {
		w.Header().Set("ETag", `"`+hash+`"`)
	}
}

// refuse answers an apply the policy refused: 409 when a watched file is
// the source of truth, 412 when a precondition does not hold (with the
// ETag of the configuration in force). Nothing changed.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusConflict
	if errors.Is(err, manager.ErrStale) {
		code = http.StatusPreconditionFailed
		setETag(w, s.m.Status().Hash)
	}
	s.log("admin: apply refused; nothing changed", "file", r.URL.Query().Get("file"), "error", err.Error())
	writeError(w, code, err.Error()+"; nothing changed", nil)
}

func (s *Server) diff(w http.ResponseWriter, r *http.Request) {
	if cfg, _, ok := s.readConfig(w, r, false); ok {
		s.plan(w, r, cfg, "diff")
	}
}

// plan answers with the plan cfg would execute, changing nothing.
func (s *Server) plan(w http.ResponseWriter, r *http.Request, cfg *spec.Config, what string) {
	plan := s.m.Plan(cfg)
	gen := s.m.Status().Generation
	s.log("admin: "+what, "file", r.URL.Query().Get("file"), "plan", plan.Summary().String())
	writeJSON(w, http.StatusOK, applyReply{FormatVersion: manager.FormatVersion, DryRun: true, Generation: gen, Plan: plan})
}
