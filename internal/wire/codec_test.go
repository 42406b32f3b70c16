package wire

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// commandBodies are request bodies of every shape: what clients send, and
// what only a broken or hostile client would.
func commandBodies(t testing.TB) [][]byte {
	var bodies [][]byte
	for _, c := range []*Command{
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

// TestDecodeCommand checks that DecodeCommand gives what the protobuf
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
	var want Command
	wantErr := proto.Unmarshal(body, &want)
	name, args, err := DecodeCommand(body)
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

// TestAppendResponse checks that AppendResponse frames replies byte for
// byte as AppendFrame does, and fails where it fails.
func TestAppendResponse(t *testing.T) {
	big := bytes.Repeat([]byte("v"), MaxFrameLen)
	for _, r := range []*Response{
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
		want, wantErr := AppendFrame(slices.Clone(prefix), r)
		got, err := AppendResponse(slices.Clone(prefix), r)
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
		cmd  *Command
		want float64
	}{
		{&Command{Command: "PING"}, 0},
		{&Command{Command: "GET", Args: []string{"key"}}, 2},
		{&Command{Command: "SET", Args: []string{"key", "value"}}, 2},
	} {
		body, err := proto.Marshal(c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if got := testing.AllocsPerRun(100, func() { _, _, _ = DecodeCommand(body) }); got != c.want {
			t.Errorf("decoding %v: %v allocations, want %v", c.cmd, got, c.want)
		}
	}
}

// responseBodies are reply bodies of every shape: what servers send, and
// what only a broken one would.
func responseBodies(t testing.TB) [][]byte {
	var bodies [][]byte
	for _, r := range []*Response{
		{Status: "Ok", Result: []byte("PONG")},
		{ClientId: "1-127.0.0.1:5000", Status: "Ok", Result: []byte("Connected")},
		{Status: "Error", Result: []byte("Error: key not found\n")},
		{Status: "Ok"},
		{Topic: "news", Status: "Ok", Result: []byte("héllo")},
		{Status: "Partial", Result: bytes.Repeat([]byte{0xff, 0}, 300)},
		{},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	field := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	bodies = append(bodies,
		slices.Concat(field(3, "Ok"), field(3, "Error")),                             // status twice: the last wins
		slices.Concat(field(4, "r"), field(3, "Ok"), field(1, "id")),                 // fields out of order
		slices.Concat(field(3, "Ok"), field(5, "unknown")),                           // unknown field
		slices.Concat(field(4, ""), field(3, "Ok")),                                  // empty result, present
		protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 7), // wrong wire type
		field(3, "\xff\xfe"),     // invalid UTF-8 in a string
		field(4, "\xff\xfe"),     // bytes need not be UTF-8
		field(3, "Ok")[:3],       // truncated
		[]byte{0x1a, 0xff},       // length past the end
		[]byte{0xff, 0xff, 0xff}, // bad tag
		[]byte("not protobuf at all"),
	)
	return bodies
}

// TestDecodeResponse checks that DecodeResponse gives what the protobuf
// library gives, error texts included, into a message that held an
// earlier reply.
func TestDecodeResponse(t *testing.T) {
	for _, body := range responseBodies(t) {
		checkDecodeResponse(t, body)
	}
}

func FuzzDecodeResponse(f *testing.F) {
	for _, body := range responseBodies(f) {
		f.Add(body)
	}
	f.Fuzz(checkDecodeResponse)
}

func checkDecodeResponse(t *testing.T, body []byte) {
	var want Response
	wantErr := proto.Unmarshal(body, &want)
	got := Response{ClientId: "old", Topic: "old", Status: "old", Result: []byte("old")}
	err := DecodeResponse(body, &got)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%q: error %v, want %v", body, err, wantErr)
	case err != nil:
		if err.Error() != wantErr.Error() {
			t.Fatalf("%q: error %q, want %q", body, err, wantErr)
		}
	case !proto.Equal(&got, &want):
		t.Fatalf("%q: decoded %v, want %v", body, &got, &want)
	}
	if err == nil && len(body) > 0 && len(got.Result) > 0 {
		body[len(body)-1] ^= 0xff // the result must not share the body's bytes
		if !proto.Equal(&got, &want) {
			t.Fatalf("%q: the result shares the body", body)
		}
	}
}

// TestAppendCommand checks that AppendCommand frames requests byte for
// byte as AppendFrame does, and fails where it fails.
func TestAppendCommand(t *testing.T) {
	big := strings.Repeat("v", MaxFrameLen)
	for _, c := range []*Command{
		{Command: "PING"},
		{Command: "GET", Args: []string{"key"}},
		{Command: "SET", Args: []string{"key", "", strings.Repeat("é", 100)}},
		{Args: []string{"", ""}},
		{Command: "SET", Args: []string{"k", strings.Repeat("x", 70000)}},
		{},
		{Command: "bad\xff"},
		{Command: "SET", Args: []string{"k", "bad\xff"}},
		{Command: "SET", Args: []string{"k", big}},
	} {
		prefix := []byte("kept")
		want, wantErr := AppendFrame(slices.Clone(prefix), c)
		got, err := AppendCommand(slices.Clone(prefix), c.Command, c.Args)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%.40v: error %v, want %v", c, err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%.40v: framed %d bytes, want %d: %.60q, want %.60q", c, len(got), len(want), got, want)
		}
	}
}

// TestCodecAllocs checks the allocations of the common replies and
// requests: none to decode an "Ok" or "Error" reply without a result
// (one for the result) nor for the client id they repeat, none to frame a
// request into a buffer with room.
func TestCodecAllocs(t *testing.T) {
	pong, err := proto.Marshal(&Response{Status: "Ok", Result: []byte("PONG")})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := proto.Marshal(&Response{Status: "Ok"})
	if err != nil {
		t.Fatal(err)
	}
	withID, err := proto.Marshal(&Response{ClientId: "7-127.0.0.1:4000", Status: "Ok"})
	if err != nil {
		t.Fatal(err)
	}
	var r Response
	if got := testing.AllocsPerRun(100, func() { _ = DecodeResponse(withID, &r) }); got != 0 {
		t.Errorf("decoding replies carrying the same client id: %v allocations, want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _ = DecodeResponse(ok, &r) }); got != 0 {
		t.Errorf("decoding an Ok reply: %v allocations, want 0", got)
	}
	if got := testing.AllocsPerRun(100, func() { _ = DecodeResponse(pong, &r) }); got != 1 {
		t.Errorf("decoding a PONG: %v allocations, want 1", got)
	}
	buf := make([]byte, 0, 256)
	args := []string{"key", "value"}
	if got := testing.AllocsPerRun(100, func() { _, _ = AppendCommand(buf[:0], "SET", args) }); got != 0 {
		t.Errorf("framing a SET: %v allocations, want 0", got)
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	body, err := proto.Marshal(&Response{Status: "Ok", Result: []byte("PONG")})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline=proto.Unmarshal", func(b *testing.B) {
		var r Response
		b.ReportAllocs()
		for b.Loop() {
			if err := proto.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DecodeResponse", func(b *testing.B) {
		var r Response
		b.ReportAllocs()
		for b.Loop() {
			if err := DecodeResponse(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
