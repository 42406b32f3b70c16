package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/fleare-manager/fleare-manager/admin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one gets the default behaviour:
	// it ends the process at once.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(report(os.Stderr, err))
}

// Exit codes.
const (
	exitOK = 0
	// exitFail: the command ran and the answer is "no": a target failed, a
	// file is invalid, diff found changes.
	exitFail = 1
	// exitUsage: the command could not run: bad flags or arguments, the
	// manager unreachable, an API error.
	exitUsage = 2
)

// exitError ends the command with a given exit code. err, when not nil, is
// printed; a nil err means the output already said everything.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError is a mistake in the command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// report prints err for a person and returns the exit code it maps to.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if ee := (*exitError)(nil); errors.As(err, &ee) && ee.err == nil {
		return code
	}
	var (
		ue          *usageError
		unreachable *admin.UnreachableError
		ae          *admin.APIError
	)
	if errors.As(err, &ae) && (ae.StatusCode == http.StatusBadRequest && len(ae.Errors) > 0 ||
		ae.StatusCode == http.StatusConflict || ae.StatusCode == http.StatusPreconditionFailed) {
		fmt.Fprintf(w, "flearectl: %s\n", ae.Message) // the status line adds nothing
	} else {
		fmt.Fprintf(w, "flearectl: %v\n", err)
	}
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(w, "Run 'flearectl --help' for usage.")
	case errors.As(err, &unreachable):
		fmt.Fprintln(w, "Is 'flearectl serve' running? --socket, or --admin-addr, says where it listens.")
	case errors.As(err, &ae) && ae.StatusCode == http.StatusConflict:
		fmt.Fprintln(w, "Edit that file, or run 'flearectl apply --force' (the file wins again at its next change).")
	case errors.As(err, &ae) && ae.StatusCode == http.StatusPreconditionFailed:
		fmt.Fprintln(w, "The configuration in force changed: see 'flearectl status', then decide.")
	case errors.As(err, &ae):
		for _, line := range ae.Errors { // file:line:col first, as editors expect
			fmt.Fprintln(w, line)
		}
	}
	return code
}

// exitCode maps err to an exit code: the code of an *exitError; exitUsage
// for usage errors, an unreachable manager or one that did not answer in
// time, a socket refused as unsafe and API errors other than a rejected
// configuration or a refused apply; exitFail otherwise.
func exitCode(err error) int {
	var (
		ee          *exitError
		ue          *usageError
		unreachable *admin.UnreachableError
		unsafe      *admin.UnsafeSocketError
		noReply     *noReplyError
		ae          *admin.APIError
	)
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue), errors.As(err, &unreachable), errors.As(err, &unsafe), errors.As(err, &noReply):
		return exitUsage
	case errors.As(err, &ae):
		switch {
		case ae.StatusCode == http.StatusBadRequest && len(ae.Errors) > 0,
			ae.StatusCode == http.StatusConflict, ae.StatusCode == http.StatusPreconditionFailed:
			return exitFail
		}
		return exitUsage
	}
	return exitFail
}
