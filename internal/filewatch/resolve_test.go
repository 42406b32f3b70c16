package filewatch

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

func relevantList(ws watchSet) []string {
	var out []string
	for p := range ws.relevant {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	root, err := filepath.EvalSymlinks(root) // TempDir itself may sit behind a link
	mustDo(t, err)
	j := func(p ...string) string { return filepath.Join(append([]string{root}, p...)...) }

	mustDo(t, os.MkdirAll(j("cm", "..v1"), 0o755))
	write(t, j("cm", "..v1", "config.yaml"), "x")
	mustDo(t, os.Symlink("..v1", j("cm", "..data")))
	mustDo(t, os.Symlink("..data/config.yaml", j("cm", "config.yaml")))
	mustDo(t, os.Mkdir(j("plain"), 0o755))
	write(t, j("plain", "config.yaml"), "x")
	mustDo(t, os.Symlink(j("cm", "config.yaml"), j("plain", "abs.yaml")))
	mustDo(t, os.Symlink("../cm/config.yaml", j("plain", "up.yaml")))
	mustDo(t, os.Symlink("loop.yaml", j("plain", "loop.yaml")))

	tests := []struct {
		name     string
		path     string
		dirs     []string
		relevant []string
		err      error
	}{
		{
			name:     "plain file",
			path:     j("plain", "config.yaml"),
			dirs:     []string{j("plain")},
			relevant: []string{j("plain"), j("plain", "config.yaml")},
		},
		{
			name:     "configmap",
			path:     j("cm", "config.yaml"),
			dirs:     []string{j("cm"), j("cm", "..v1")},
			relevant: []string{j("cm"), j("cm", "..data"), j("cm", "..v1"), j("cm", "..v1", "config.yaml"), j("cm", "config.yaml")},
		},
		{
			name: "absolute link into the configmap",
			path: j("plain", "abs.yaml"),
			dirs: []string{j("plain"), j("cm"), j("cm", "..v1")},
			relevant: []string{j("cm"), j("cm", "..data"), j("cm", "..v1"), j("cm", "..v1", "config.yaml"),
				j("cm", "config.yaml"), j("plain"), j("plain", "abs.yaml")},
		},
		{
			name:     "missing file",
			path:     j("plain", "absent.yaml"),
			dirs:     []string{j("plain")},
			relevant: []string{j("plain"), j("plain", "absent.yaml")},
		},
		{
			name:     "missing directory: watch the deepest existing one",
			path:     j("gone", "deeper", "config.yaml"),
			dirs:     []string{root},
			relevant: []string{root, j("gone")},
		},
		{
			name: "relative link climbing out with dot-dot",
			path: j("plain", "up.yaml"),
			dirs: []string{j("plain"), j("cm"), j("cm", "..v1")},
			relevant: []string{j("cm"), j("cm", "..data"), j("cm", "..v1"), j("cm", "..v1", "config.yaml"),
				j("cm", "config.yaml"), j("plain"), j("plain", "up.yaml")},
		},
		{
			name:     "link loop",
			path:     j("plain", "loop.yaml"),
			dirs:     []string{j("plain")},
			relevant: []string{j("plain"), j("plain", "loop.yaml")},
			err:      errLinkLoop,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := resolve(tt.path)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !slices.Equal(ws.dirs, tt.dirs) {
				t.Errorf("dirs = %q\nwant %q", ws.dirs, tt.dirs)
			}
			want := slices.Clone(tt.relevant)
			sort.Strings(want)
			if got := relevantList(ws); !slices.Equal(got, want) {
				t.Errorf("relevant = %q\nwant %q", got, want)
			}
		})
	}
}

// read keeps at most one pending Update, the newest state, and drops it when
// the file returns to the state the receiver already has.
func TestReadCoalesces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	w := &watcher{path: path, o: Options{MaxSize: DefaultMaxSize}}
	deliver := func() Update {
		t.Helper()
		if !w.hasPending {
			t.Fatal("nothing pending")
		}
		u := w.pending
		w.sentAny, w.sent, w.hasPending = true, u.state(), false
		return u
	}

	write(t, path, "a")
	w.read(ReasonInitial)
	write(t, path, "b")
	w.read(ReasonNotify) // replaces the undelivered first Update, still "initial"
	if u := deliver(); string(u.Data) != "b" || u.Reason != ReasonInitial {
		t.Fatalf("delivered %q (%s), want b (initial)", u.Data, u.Reason)
	}

	w.read(ReasonPoll)
	if w.hasPending {
		t.Fatal("unchanged file made an Update pending")
	}
	write(t, path, "c")
	w.read(ReasonNotify)
	w.read(ReasonPoll) // same state: keeps the first reason
	if !w.hasPending || w.pending.Reason != ReasonNotify {
		t.Fatalf("pending = %v (%s), want c by fsnotify", w.hasPending, w.pending.Reason)
	}
	write(t, path, "b")
	w.read(ReasonNotify) // back to what the receiver has
	if w.hasPending {
		t.Fatalf("pending %q although the receiver already has b", w.pending.Data)
	}

	mustDo(t, os.Remove(path))
	w.read(ReasonNotify)
	if u := deliver(); u.Err == nil {
		t.Fatal("missing file delivered no error")
	}
	w.read(ReasonPoll)
	if w.hasPending {
		t.Fatal("the same error made an Update pending again")
	}
}
