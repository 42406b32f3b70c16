package fleartest

import (
	"bufio"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// The real server's replies, recorded by a raw protocol client, are in
// testdata/real-server-transcript.txt (a copy of the shared transcript).
// TestTranscript replays every case of it against this server: the
// expected status, result and client id are read from the transcript
// itself; the table below only says how to produce each case.

// field is one name=value of a transcript line, in order.
type field struct{ name, value string }

var fieldRE = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|<[^>]*>)`)

// transcriptCase is one line of the transcript: what was sent, and what the
// real server did.
type transcriptCase struct {
	label  string
	text   string // everything after "->"
	fields []field
}

// has reports whether the line gives a value for name.
func (c transcriptCase) has(name string) bool {
	return slices.ContainsFunc(c.fields, func(f field) bool { return f.name == name })
}

// get returns the n-th (from 0) value of name, unquoted.
func (c transcriptCase) get(t *testing.T, name string, n int) string {
	t.Helper()
	for _, f := range c.fields {
		if f.name != name {
			continue
		}
		if n > 0 {
			n--
			continue
		}
		if strings.HasPrefix(f.value, "<") {
			return f.value
		}
		v, err := strconv.Unquote(f.value)
		if err != nil {
			t.Fatalf("transcript %q: %s=%s: %v", c.label, name, f.value, err)
		}
		return v
	}
	t.Fatalf("transcript %q has no %s #%d", c.label, name, n)
	return ""
}

// readTranscript returns the transcript's cases by section.
func readTranscript(t *testing.T) map[string][]transcriptCase {
	f, err := os.Open("testdata/real-server-transcript.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := make(map[string][]transcriptCase)
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if n := len(lines); n > 0 && strings.HasPrefix(strings.TrimSpace(line), "-> ") {
			lines[n-1] += " " + strings.TrimSpace(line) // a case continued on the next line
			continue
		}
		lines = append(lines, line)
	}
	section := ""
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, "# "):
			section = strings.TrimPrefix(line, "# ")
			continue
		case strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
			continue
		}
		label, text, found := strings.Cut(line, " -> ")
		if !found { // "answered within 3s: 2 of 8"
			label, text, _ = strings.Cut(line, ": ")
		}
		c := transcriptCase{label: strings.TrimSpace(label), text: strings.TrimSpace(text)}
		for _, m := range fieldRE.FindAllStringSubmatch(text, -1) {
			c.fields = append(c.fields, field{m[1], m[2]})
		}
		out[section] = append(out[section], c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

const (
	tUser = "app"
	tPass = "transcript-pw"
)

func TestTranscript(t *testing.T) {
	sections := readTranscript(t)
	runners := map[string]func(*testing.T, []transcriptCase){
		"handshake":                     replayHandshakes,
		"commands after auth":           replayCommands,
		"concurrent handshakes":         replayConcurrentHandshakes,
		"silent unauthenticated client": replaySilentClient,
		"pub/sub":                       replayPubSub,
	}
	for _, name := range slices.Sorted(maps.Keys(sections)) {
		var run func(*testing.T, []transcriptCase)
		for prefix, r := range runners {
			if strings.HasPrefix(name, prefix) {
				run = r
			}
		}
		if run == nil {
			t.Errorf("transcript section %q is not replayed", name)
			continue
		}
		t.Run(name, func(t *testing.T) { run(t, sections[name]) })
	}
}

// expectReply checks a reply against a standard transcript line: status,
// result and client id (the connection's own when the real server sent
// one, else empty), and whether the server then closed the connection.
func expectReply(t *testing.T, c transcriptCase, r *raw, connID string, resp *wire.Response) {
	t.Helper()
	if st := c.get(t, "status", 0); resp.GetStatus() != st {
		t.Errorf("%s: status %q, the real server %q", c.label, resp.GetStatus(), st)
	}
	if res := c.get(t, "result", 0); string(resp.GetResult()) != res {
		t.Errorf("%s: result %q, the real server %q", c.label, resp.GetResult(), res)
	}
	if c.has("client_id") {
		wantID := ""
		if c.get(t, "client_id", 0) != "" {
			wantID = connID
		}
		if resp.GetClientId() != wantID {
			t.Errorf("%s: client_id %q, want %q (the real server's was %q)", c.label, resp.GetClientId(), wantID, c.get(t, "client_id", 0))
		}
	}
	if strings.Contains(c.text, "closed by server") {
		r.expectClosed()
	}
}

func replayHandshakes(t *testing.T, cases []transcriptCase) {
	s := NewServer(t, Options{Users: map[string]string{tUser: tPass}})
	frame := func(cmd string, args ...string) []byte {
		b, err := wire.AppendFrame(nil, &wire.Command{Command: cmd, Args: args})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sends := map[string][]byte{
		"auth ok":                     frame("auth", tUser, tPass),
		"auth cmd name PING ok creds": frame("PING", tUser, tPass),
		"wrong password":              frame("auth", tUser, "nope"),
		"unknown user":                frame("auth", "bob", tPass),
		"0 args":                      frame("auth"),
		"1 arg":                       frame("auth", tUser),
		"3 args":                      frame("auth", tUser, tPass, "x"),
		"user, empty password":        frame("auth", tUser, ""),
		"garbage protobuf":            {0, 0, 0, 3, 0xff, 0xff, 0xff},
		"empty frame (len 0)":         {0, 0, 0, 0},
	}
	for _, c := range cases {
		send, found := sends[c.label]
		if !found {
			t.Errorf("handshake case %q has no replay", c.label)
			continue
		}
		r := dialRaw(t, s)
		if _, err := r.nc.Write(send); err != nil {
			t.Fatal(err)
		}
		resp, err := r.recv()
		if err != nil {
			t.Fatalf("%s: %v", c.label, err)
		}
		expectReply(t, c, r, resp.GetClientId(), resp)
		if resp.GetStatus() == "Ok" && resp.GetClientId() == "" {
			t.Errorf("%s: no client id on a successful auth", c.label)
		}
	}
}

// jsonKeys returns the sorted keys of a JSON object.
func jsonKeys(t *testing.T, doc []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	return slices.Sorted(maps.Keys(m))
}

// sameShape compares the JSON of SESSION and STATUS replies by their keys:
// times, ids and shard counts differ from one server to another.
func sameShape(t *testing.T, label string, got []byte, want string) {
	t.Helper()
	if g, w := jsonKeys(t, got), jsonKeys(t, []byte(want)); !slices.Equal(g, w) {
		t.Errorf("%s: keys %v, the real server %v", label, g, w)
	}
	var g, w map[string]json.RawMessage
	_ = json.Unmarshal(got, &g)
	_ = json.Unmarshal([]byte(want), &w)
	for _, k := range []string{"user", "shard_info"} {
		if w[k] == nil {
			continue
		}
		gk, wk := jsonKeys(t, g[k]), jsonKeys(t, w[k])
		if k == "shard_info" { // shards are "0".."n-1" and shard_count
			if !slices.Contains(gk, "shard_count") || !slices.Contains(gk, "0") {
				t.Errorf("%s: shard_info keys %v", label, gk)
			}
			var gs, ws map[string]json.RawMessage
			_ = json.Unmarshal(g[k], &gs)
			_ = json.Unmarshal(w[k], &ws)
			gk, wk = jsonKeys(t, gs["0"]), jsonKeys(t, ws["0"])
		}
		if !slices.Equal(gk, wk) {
			t.Errorf("%s: %s keys %v, the real server %v", label, k, gk, wk)
		}
	}
}

func replayCommands(t *testing.T, cases []transcriptCase) {
	s := NewServer(t, Options{Users: map[string]string{tUser: tPass}})
	r := dialRaw(t, s)
	r.send("auth", tUser, tPass)
	authReply, err := r.recv()
	if err != nil {
		t.Fatal(err)
	}
	id := authReply.GetClientId()
	cmd := func(name string, args ...string) func() *wire.Response {
		return func() *wire.Response { r.send(name, args...); return mustRecv(t, r) }
	}
	rawFrame := func(b []byte) func() *wire.Response {
		return func() *wire.Response {
			if _, err := r.nc.Write(b); err != nil {
				t.Fatal(err)
			}
			resp, err := r.recv()
			if err != nil {
				return &wire.Response{} // the "EOF" of the transcript
			}
			return resp
		}
	}
	exists200 := func() *wire.Response {
		keys := make([]string, 200)
		for i := range keys {
			keys[i] = "key-" + strconv.Itoa(i)
			cmd("SET", keys[i], "v")()
		}
		return cmd("EXISTS", keys...)()
	}
	runs := map[string]func() *wire.Response{
		"PING":                 cmd("PING"),
		"ping a b (lowercase)": cmd("ping", "a", "b"),
		"SET k v":              cmd("SET", "k", "v"),
		"GET k":                cmd("GET", "k"),
		"GET missing":          cmd("GET", "missing"),
		"GET (no args)":        cmd("GET"),
		"GET ''":               cmd("GET", ""),
		"GET a b c":            cmd("GET", "a", "b", "c"),
		"SET k (1 arg)":        cmd("SET", "k"),
		"SET '' v":             cmd("SET", "", "v"),
		"SET 201-char key":     cmd("SET", strings.Repeat("k", 201), "v"),
		"SET j {json}":         cmd("SET", "j", `{"a":{"b":"c"},"n":1}`),
		"GET j a.b":            cmd("GET", "j", "a.b"),
		"GET j n":              cmd("GET", "j", "n"),
		"GET j nope":           cmd("GET", "j", "nope"),
		"GET k a.b (not json)": cmd("GET", "k", "a.b"),
		"EXISTS k missing":     cmd("EXISTS", "k", "missing"),
		"EXISTS (no args)":     cmd("EXISTS"),
		"DELETE k":             cmd("DELETE", "k"),
		"DELETE missing":       cmd("DELETE", "missing"),
		"DELETE (no args)":     cmd("DELETE"),
		"FOO (unknown)":        cmd("FOO"),
		"garbage protobuf":     rawFrame([]byte{0, 0, 0, 3, 0xff, 0xff, 0xff}),
		"no command name, args": rawFrame(func() []byte {
			b, _ := wire.AppendFrame(nil, &wire.Command{Args: []string{"x"}})
			return b
		}()),
		"SESSION":                  cmd("SESSION"),
		"STATUS":                   cmd("STATUS"),
		"EXISTS 200 existing keys": exists200,
		"empty frame after auth":   rawFrame([]byte{0, 0, 0, 0}),
	}
	for _, c := range cases {
		if c.label == "200 pipelined PINGs in one write" {
			pipelinedPings(t, r, c)
			continue
		}
		run, found := runs[c.label]
		if !found {
			t.Errorf("command case %q has no replay", c.label)
			continue
		}
		resp := run()
		if c.label == "SESSION" || c.label == "STATUS" {
			if resp.GetStatus() != "Ok" || resp.GetClientId() != id {
				t.Errorf("%s: %v", c.label, resp)
			}
			sameShape(t, c.label, resp.GetResult(), c.get(t, "result", 0))
			continue
		}
		expectReply(t, c, r, id, resp)
	}
}

func mustRecv(t *testing.T, r *raw) *wire.Response {
	t.Helper()
	resp, err := r.recv()
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// pipelinedPings writes 200 PINGs at once and checks the replies come in
// order, none missing ("0 out of order/missing").
func pipelinedPings(t *testing.T, r *raw, c transcriptCase) {
	if !strings.HasPrefix(c.text, "0 out of order") {
		t.Fatalf("unexpected transcript line %q", c.text)
	}
	var batch []byte
	for i := range 200 {
		batch, _ = wire.AppendFrame(batch, &wire.Command{Command: "PING", Args: []string{strconv.Itoa(i)}})
	}
	if _, err := r.nc.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if got := string(mustRecv(t, r).GetResult()); got != "PONG "+strconv.Itoa(i) {
			t.Fatalf("pipelined reply %d = %q", i, got)
		}
	}
}

// replayConcurrentHandshakes: 8 connects at once, then auth on each. The
// real server answered 2; the strict server strands every connection that
// arrives during the first one's handshake, and is wedged after.
func replayConcurrentHandshakes(t *testing.T, cases []transcriptCase) {
	if len(cases) != 1 || cases[0].label != "answered within 3s" {
		t.Fatalf("unexpected cases %+v", cases)
	}
	realAnswered, _ := strconv.Atoi(strings.Fields(cases[0].text)[0])
	s := NewServer(t, Options{Users: map[string]string{tUser: tPass}, Strict: true})
	rs := make([]*raw, 8)
	for i := range rs {
		rs[i] = dialRaw(t, s)
	}
	if err := s.Wait(ctxT(t), func() bool { return s.Accepted() == 8 }); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		r.send("auth", tUser, tPass)
	}
	if err := s.Wait(ctxT(t), func() bool { return uint64(s.Conns())+s.Stranded() == 8 }); err != nil {
		t.Fatal(err)
	}
	answered := s.Conns()
	if answered < 1 || answered >= 8 || !s.Wedged() || s.Overlaps().Handshakes == 0 {
		t.Fatalf("answered %d of 8 (the real server %d), wedged %v, overlaps %+v", answered, realAnswered, s.Wedged(), s.Overlaps())
	}
}

// replaySilentClient: a client that connects and says nothing holds the
// handshake; the next client is stranded, and stays so after the silent one
// leaves (the listener is wedged).
func replaySilentClient(t *testing.T, cases []transcriptCase) {
	s := NewServer(t, Options{Users: map[string]string{tUser: tPass}, Strict: true})
	silent := dialRaw(t, s)
	if err := s.Wait(ctxT(t), func() bool { return s.Accepted() == 1 }); err != nil {
		t.Fatal(err)
	}
	second := dialRaw(t, s)
	second.send("auth", tUser, tPass)
	for _, c := range cases {
		if !strings.Contains(c.text, "i/o timeout") {
			t.Fatalf("%s: unexpected transcript line %q", c.label, c.text)
		}
		switch c.label {
		case "2nd client auth while 1st silent":
			if err := s.Wait(ctxT(t), func() bool { return s.Stranded() == 1 }); err != nil {
				t.Fatal(err)
			}
		case "after closing the silent one":
			silent.nc.Close()
		default:
			t.Fatalf("silent-client case %q has no replay", c.label)
		}
		_ = second.nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if resp, err := second.recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: the stranded client got %v, %v", c.label, resp, err)
		}
	}
	if !s.Wedged() {
		t.Fatal("not wedged after a stranded handshake")
	}
}
