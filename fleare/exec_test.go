package fleare_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

// Exec returns replies as the server sent them, in plain and pipelined mode
// alike: an "Error" reply is a Reply, its message untouched, and counted as
// a server error.
func TestExecReturnsRawReplies(t *testing.T) {
	for _, o := range []fleare.Options{fastOptions(2), pipelined(2, 8)} {
		t.Run(fmt.Sprintf("pipeline=%d", o.Pipeline), func(t *testing.T) {
			srv := fleartest.NewServer(t, fleartest.Options{Users: testUsers})
			c := connect(t, srv, o)
			ctx := testCtx(t)
			r, err := c.Exec(ctx, "SET", "only-key")
			if err != nil || r.Status != "Error" || !strings.HasPrefix(string(r.Result), "InvalidArgumentError: ") ||
				!strings.HasSuffix(string(r.Result), "\n") || r.ClientID == "" {
				t.Fatalf("Exec SET with one arg = %+v (%q), %v", r, r.Result, err)
			}
			r, err = c.Exec(ctx, "PING", "a", "b")
			if err != nil || r.Status != "Ok" || string(r.Result) != "PONG a b" || r.ClientID == "" {
				t.Fatalf("Exec PING = %+v (%q), %v", r, r.Result, err)
			}
			if s := c.Stats(); s.Requests != 2 || s.ServerErrors != 1 || s.Errors != 0 {
				t.Fatalf("Stats = %+v", s)
			}
		})
	}
}
