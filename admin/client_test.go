package admin_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/admin"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/reconcile"
)

// serveUnix serves api on a socket in a temporary directory until the
// test ends, and returns the socket's path.
func serveUnix(t *testing.T, h http.Handler, api *admin.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.sock")
	ln, err := admin.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	hs.RegisterOnShutdown(api.Close)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return path
}

func TestClient(t *testing.T) {
	srv := startFleare(t)
	f := newFixture(t, admin.Options{}, nil)
	sock := serveUnix(t, f.api, f.api)
	c := admin.NewClient(admin.ClientOptions{Socket: sock})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var ae *admin.APIError
	if _, err := c.Config(ctx); !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound {
		t.Errorf("Config before any: %v", err)
	}
	file := filepath.Join(t.TempDir(), "fleare.yaml")
	res, err := c.Apply(ctx, file, []byte(configYAML(srv, 2)), true)
	if err != nil || !res.DryRun || len(res.Plan.Actions) != 1 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	res, err = c.Apply(ctx, file, []byte(configYAML(srv, 2)), false)
	if err != nil || res.DryRun || res.Failed() || len(res.Outcomes) != 1 || res.Outcomes[0].Action != reconcile.Create {
		t.Fatalf("apply: %+v %v", res, err)
	}
	res, err = c.Diff(ctx, file, []byte(configYAML(srv, 4)))
	if err != nil || len(res.Plan.Actions) != 1 || res.Plan.Actions[0].Kind != reconcile.Resize {
		t.Fatalf("diff: %+v %v", res, err)
	}
	st, err := c.Status(ctx)
	if err != nil || len(st.Targets) != 1 || st.Targets[0].Desired != 2 || st.Source != "api" {
		t.Errorf("status: %+v %v", st, err)
	}
	cfg, err := c.Config(ctx)
	if err != nil || !strings.Contains(string(cfg), "size: 2") || strings.Contains(string(cfg), testPassword) {
		t.Errorf("config: %v\n%s", err, cfg)
	}

	// A rejected file: an APIError with every problem, named after file.
	_, err = c.Apply(ctx, "bad.yaml", []byte("version: 2\ntargets: []\n"), false)
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest || len(ae.Errors) != 2 {
		t.Fatalf("apply of a bad file: %v", err)
	}
	abs, _ := filepath.Abs("bad.yaml")
	for _, e := range ae.Errors {
		if !strings.HasPrefix(e, abs+":") {
			t.Errorf("problem %q does not start with the file's absolute path", e)
		}
	}

	var types []manager.EventType
	waitFor(t, "config.applied in the history", func() bool {
		types = types[:0]
		err := c.Events(ctx, false, func(e manager.Event) error {
			types = append(types, e.Type)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(types, manager.EventConfigApplied)
	})
	if !slices.Contains(types, manager.EventTargetCreated) {
		t.Errorf("events: %v", types)
	}
	stop := errors.New("stop")
	err = c.Events(ctx, true, func(manager.Event) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Events with a callback that fails: %v", err)
	}
}

func TestClientFollowEndsWithContext(t *testing.T) {
	f := newFixture(t, admin.Options{}, nil)
	sock := serveUnix(t, f.api, f.api)
	c := admin.NewClient(admin.ClientOptions{Socket: sock})
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Events(ctx, true, func(manager.Event) error { return nil }) }()
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Events after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Events --follow did not end with its context")
	}
}

func TestClientUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	c := admin.NewClient(admin.ClientOptions{Socket: sock})
	defer c.Close()
	_, err := c.Status(context.Background())
	var ue *admin.UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), sock) {
		t.Errorf("status of a missing socket: %v, want an UnreachableError naming it", err)
	}
}

func TestClientToken(t *testing.T) {
	f := newFixture(t, admin.Options{}, nil)
	const token = "the-right-token"
	sock := serveUnix(t, admin.RequireToken(token, f.api), f.api)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"wrong", http.StatusUnauthorized}, {token, 0}} {
		c := admin.NewClient(admin.ClientOptions{Socket: sock, Token: tc.token})
		_, err := c.Status(ctx)
		c.Close()
		var ae *admin.APIError
		switch {
		case tc.want == 0 && err != nil:
			t.Errorf("token %q: %v", tc.token, err)
		case tc.want != 0 && (!errors.As(err, &ae) || ae.StatusCode != tc.want):
			t.Errorf("token %q: %v, want %d", tc.token, err, tc.want)
		}
	}
}
