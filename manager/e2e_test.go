package manager_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/internal/testkit"
	"github.com/fleare-manager/fleare-manager/manager"
)

// A save style: how an editor or a tool replaces the file's content.
type saveStyle struct {
	name string
	save func(t testing.TB, path, content string)
}

var saveStyles = []saveStyle{
	{"in place", testkit.WriteInPlace},
	{"temp then rename", func(t testing.TB, path, content string) {
		tmp := path + ".tmp~"
		testkit.WriteInPlace(t, tmp, content)
		must(t, os.Rename(tmp, path))
	}},
	{"delete and recreate", func(t testing.TB, path, content string) {
		must(t, os.Remove(path))
		testkit.WriteInPlace(t, path, content)
	}},
	{"configmap swap", saveConfigMap},
}

var configMapVersion atomic.Int64

// saveConfigMap saves as the kubelet updates a ConfigMap volume: the content
// goes in a new timestamped directory, ..data is swapped to it atomically,
// and path is a link through ..data.
func saveConfigMap(t testing.TB, path, content string) {
	dir, name := filepath.Split(path)
	version := fmt.Sprintf("..v%d", configMapVersion.Add(1))
	must(t, os.Mkdir(filepath.Join(dir, version), 0o755))
	testkit.WriteInPlace(t, filepath.Join(dir, version, name), content)
	must(t, os.Symlink(version, filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	if target, err := os.Readlink(path); err != nil || target != filepath.Join("..data", name) {
		must(t, os.Symlink(filepath.Join("..data", name), path+".link~"))
		must(t, os.Rename(path+".link~", path))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The whole loop under load: 32 callers ping target "a" while its file is
// rewritten 200 times in every save style, with pool sizes 1-16 and the
// endpoint swapped between two servers, and an invalid file now and then.
// No call fails, every change shows in the event stream, invalid files
// change nothing, and the servers end with the connections the file asks
// for.
func TestEndToEndReloadUnderLoad(t *testing.T) {
	servers := []*fleartest.Server{
		fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true}),
		fleartest.NewServer(t, fleartest.Options{Users: testkit.Users(), Strict: true}),
	}
	path := filepath.Join(t.TempDir(), "fleare.yaml")
	testkit.WriteFile(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: servers[0], Size: 4}))
	m := testkit.NewManager(t, manager.Options{Debounce: 10 * time.Millisecond})
	ev := testkit.Record(t, m)
	ctx := testkit.Context(t)
	if err := m.WatchFile(ctx, path); err != nil {
		t.Fatal(err)
	}

	load := testkit.StartLoad(ctx, 32, 10*time.Second, m.Client("a").Ping)

	const writes = 200
	cur, size := 0, 4 // the server and size in force
	var changes, rejects, midSave int
	// A file written in place is empty between the truncate and the write,
	// and one deleted and recreated is missing, then empty; a writer
	// stalled there past the settling time (a loaded machine does that)
	// has that state rejected, rightly. Those are the only rejections a
	// valid write may bring, and only in those styles.
	transient := func(i int, style saveStyle, e manager.Event) bool {
		if midSaveState(e) != "" && (style.name == "in place" || style.name == "delete and recreate") {
			t.Logf("write %d (%s): the file was rejected mid-save (%s)", i, style.name, midSaveState(e))
			midSave++
			return true
		}
		return false
	}
	from := len(ev.All())
	for i := range writes {
		style := saveStyles[i%len(saveStyles)]
		if i%10 == 7 {
			settled(t, m, servers, cur, size)
			accepted := []uint64{servers[0].Accepted(), servers[1].Accepted()}
			style.save(t, path, "version: 1\ntargets:\n  a: {host: [\n") // truncated garbage
			var e manager.Event
			start := from
			e, from = ev.Wait(t, from, "rejected ("+style.name+")", func(e manager.Event) bool {
				return e.Type == manager.EventConfigRejected && midSaveState(e) == ""
			})
			for _, e := range ev.All()[start : from-1] {
				if e.Type == manager.EventConfigRejected && !transient(i, style, e) {
					t.Fatalf("write %d (%s): rejected: %v", i, style.name, e)
				}
			}
			if len(e.Errors) == 0 || !strings.Contains(e.Errors[0], path+":") {
				t.Fatalf("rejected event without positioned errors: %v", e)
			}
			for j, s := range servers {
				if s.Accepted() != accepted[j] {
					t.Fatalf("write %d (%s): a rejected file opened connections on server %d; status %+v\nevents:\n%s",
						i, style.name, j, m.Status(), testkit.Lines(ev.All()[max(0, from-30):]))
				}
			}
			settled(t, m, servers, cur, size)
			rejects++
			continue
		}
		if i%5 == 0 {
			cur = 1 - cur
		}
		size = 1 + i%16
		style.save(t, path, testkit.ConfigYAML(testkit.Target{Name: "a", Srv: servers[cur], Size: size}))
		want := manager.EventTargetResized
		if i%5 == 0 {
			want = manager.EventTargetReplaced
		}
		changes++
		// A replace whose new pool fills slowly is applied first and
		// switches later: the two events may come in either order.
		start := from
		_, seen := ev.Wait(t, from, fmt.Sprintf("write %d (%s): %s", i, style.name, want), testkit.Is(want, "a"))
		gen := uint64(1 + changes)
		_, applied := ev.Wait(t, from, fmt.Sprintf("write %d: applied", i), func(e manager.Event) bool {
			return e.Type == manager.EventConfigApplied && e.Generation == gen
		})
		from = max(seen, applied)
		for _, e := range ev.All()[start:from] {
			if e.Type == manager.EventConfigRejected && !transient(i, style, e) {
				t.Fatalf("write %d (%s) of a valid file: rejected: %v", i, style.name, e)
			}
		}
	}
	settled(t, m, servers, cur, size)
	calls := load.Stop()
	if calls.Failed != 0 {
		t.Fatalf("%d of %d calls failed; first: %v", calls.Failed, calls.OK+calls.Failed, calls.First)
	}
	st := m.Status()
	if st.Generation != uint64(1+changes) || st.Reloads.Rejected != uint64(rejects+midSave) {
		t.Fatalf("generation %d after %d changes, %d rejected (want %d); status %+v", st.Generation, changes, st.Reloads.Rejected, rejects, st)
	}
	if servers[0].Stranded()+servers[1].Stranded() != 0 {
		t.Fatal("connects were stranded: pools dialed one server in parallel")
	}
	t.Logf("%d calls, %d changes, %d rejected files", calls.OK, changes, rejects)
}

// settled waits until the configuration in force has taken hold, as the
// manager sees it (target a's pool open at size with no dial under way, no
// replacement pending, no pool draining) and as the servers do (size
// connections on servers[cur], none on the other). The servers' counts
// alone do not say it: a server counts a connection the client has closed
// until it reads the close, so it can show size while the pool is still
// dialing the connection that replaces it, which the server accepts later.
func settled(t testing.TB, m *manager.Manager, servers []*fleartest.Server, cur, size int) {
	t.Helper()
	testkit.WaitStatus(t, m, fmt.Sprintf("a at %s with %d connections, nothing dialing or draining", servers[cur].Addr(), size),
		func(st manager.Status) bool {
			if len(st.Targets) != 1 || len(st.Draining) != 0 {
				return false
			}
			a := st.Targets[0]
			return a.Addr == servers[cur].Addr() && a.Open == size && a.Dialing == 0 && a.Pending == nil
		})
	testkit.WaitConns(t, servers[cur], size)
	testkit.WaitConns(t, servers[1-cur], 0)
}

// midSaveState returns "missing" or "empty" when e rejects the file in the
// state a save leaves it in mid-way, else "".
func midSaveState(e manager.Event) string {
	if e.Type != manager.EventConfigRejected || len(e.Errors) != 1 {
		return ""
	}
	switch {
	case strings.Contains(e.Errors[0], "no such file"):
		return "missing"
	case strings.Contains(e.Errors[0], "the file is empty"):
		return "empty"
	}
	return ""
}
