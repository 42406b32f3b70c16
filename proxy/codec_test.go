package proxy

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// commandBodies are request bodies of every shape: what clients send, and
// what only a broken or hostile client would.
func commandBodies(t testing.TB) [][]byte {
	var bodies [][]byte
	for _, c := range []*wire.Command{
		{Command: "PING"},
		{Command: "ping"},
		{Command: "GET", Args: []string{"k"}},
		{Command: "SET", Args: []string{"key", "value with spaces", ""}},
		{Command: "SESSION"},
		{Command: "PUBLISH", Args: []string{"chän", strings.Repeat("x", 300)}},
		{Command: "", Args: []string{"a"}},
		{Args: []string{"", ""}},
		{Command: strings.Repeat("N", 200)},
	} {
		b, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	field := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	bodies = append(bodies,
		slices.Concat(field(1, "GET"), field(1, "SET"), field(2, "k")),               // name twice: the last wins
		slices.Concat(field(2, "k"), field(1, "GET")),                                // argument first
		slices.Concat(field(1, "GET"), field(3, "unknown")),                          // unknown field
		protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7), // wrong wire type
		field(1, "\xff\xfe"),     // invalid UTF-8
		field(2, "ok\xc3"),       // invalid UTF-8 in an argument
		field(1, "GET")[:3],      // truncated
		[]byte{0x0a, 0xff},       // length past the end
		[]byte{0xff, 0xff, 0xff}, // bad tag
		[]byte("not protobuf at all"),
	)
	return bodies
}

// TestDecodeCommand checks that decodeCommand gives what the protobuf
// library gives, error texts included (the client sees them).
func TestDecodeCommand(t *testing.T) {
	for _, body := range commandBodies(t) {
		checkDecode(t, body)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, body := range commandBodies(f) {
		f.Add(body)
	}
	f.Fuzz(checkDecode)
}

func checkDecode(t *testing.T, body []byte) {
	var want wire.Command
	wantErr := proto.Unmarshal(body, &want)
	name, args, err := decodeCommand(body)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%q: error %v, want %v", body, err, wantErr)
	case err != nil:
		if err.Error() != wantErr.Error() {
			t.Fatalf("%q: error %q, want %q", body, err, wantErr)
		}
	case name != want.GetCommand() || !slices.Equal(args, want.GetArgs()):
		t.Fatalf("%q: decoded %q %q, want %q %q", body, name, args, want.GetCommand(), want.GetArgs())
	}
}

// TestAppendResponse checks that appendResponse frames replies byte for
// byte as wire.AppendFrame does, and fails where it fails.
func TestAppendResponse(t *testing.T) {
	big := bytes.Repeat([]byte("v"), wire.MaxFrameLen)
	for _, r := range []*wire.Response{
		{ClientId: "1-127.0.0.1:5000", Status: "Ok", Result: []byte("PONG")},
		{Status: "Ok", Result: []byte("value")},
		{Status: "Ok"},
		{ClientId: "7-[::1]:1", Topic: "news", Status: "Ok", Result: []byte(strings.Repeat("é", 100))},
		{Status: "Error", Result: bytes.Repeat([]byte{0xff}, 70000)},
		{},
		{ClientId: "bad\xff", Status: "Ok"},
		{Status: "Ok", Result: big},
	} {
		prefix := []byte("kept")
		want, wantErr := wire.AppendFrame(slices.Clone(prefix), r)
		got, err := appendResponse(slices.Clone(prefix), r)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%.40v: error %v, want %v", r, err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%.40v: framed %d bytes, want %d: %.60q, want %.60q", r, len(got), len(want), got, want)
		}
	}
}

// TestDecodeCommandAllocs checks the allocations of the common requests:
// none for PING, two (the strings, the arguments) for a GET.
func TestDecodeCommandAllocs(t *testing.T) {
	for _, c := range []struct {
		cmd  *wire.Command
		want float64
	}{
		{&wire.Command{Command: "PING"}, 0},
		{&wire.Command{Command: "GET", Args: []string{"key"}}, 2},
		{&wire.Command{Command: "SET", Args: []string{"key", "value"}}, 2},
	} {
		body, err := proto.Marshal(c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if got := testing.AllocsPerRun(100, func() { _, _, _ = decodeCommand(body) }); got != c.want {
			t.Errorf("decoding %v: %v allocations, want %v", c.cmd, got, c.want)
		}
	}
}
