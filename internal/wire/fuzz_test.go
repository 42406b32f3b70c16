package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
)

// FuzzReadFrame feeds arbitrary bytes to the frame decoder. Whatever the
// input, it must not panic, must return bodies that are exactly the bytes the
// headers describe, and must fail only with the documented errors. The seed
// corpus in testdata/fuzz/FuzzReadFrame holds zero and huge lengths,
// truncated frames, garbage and valid frames.
func FuzzReadFrame(f *testing.F) {
	f.Add(frame([]byte("\x0a\x04PING")))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(data), 16)
		var buf []byte
		off := 0
		for {
			body, err := ReadFrame(br, buf)
			if err != nil {
				checkReadErr(t, err, data, off)
				return
			}
			if len(body) == 0 || len(body) > MaxFrameLen {
				t.Fatalf("body of %d bytes returned", len(body))
			}
			if off+HeaderLen+len(body) > len(data) || !bytes.Equal(body, data[off+HeaderLen:off+HeaderLen+len(body)]) {
				t.Fatalf("body at offset %d does not match the input", off)
			}
			off += HeaderLen + len(body)
			var c Command
			_ = proto.Unmarshal(body, &c)
			var r Response
			_ = proto.Unmarshal(body, &r)
			buf = body
		}
	})
}

func checkReadErr(t *testing.T, err error, data []byte, off int) {
	t.Helper()
	var fe *FrameError
	switch {
	case errors.Is(err, io.EOF):
		if off != len(data) {
			t.Fatalf("io.EOF at offset %d of %d", off, len(data))
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		if off == len(data) {
			t.Fatal("io.ErrUnexpectedEOF at a frame boundary")
		}
	case errors.As(err, &fe):
		if fe.Len != 0 && fe.Len <= MaxFrameLen {
			t.Fatalf("FrameError for an allowed length %d", fe.Len)
		}
	default:
		t.Fatalf("unexpected error %T: %v", err, err)
	}
}

// FuzzCommandRoundTrip checks that every command the encoder accepts decodes
// to the same command, and that it refuses only invalid UTF-8.
func FuzzCommandRoundTrip(f *testing.F) {
	f.Add("PING", "", "")
	f.Add("SET", "key", "value")
	f.Add("auth", "user", "p\xffss")
	f.Fuzz(func(t *testing.T, command, a, b string) {
		in := &Command{Command: command, Args: []string{a, b}}
		out, err := AppendFrame(nil, in)
		valid := utf8.ValidString(command) && utf8.ValidString(a) && utf8.ValidString(b)
		if err != nil {
			if valid {
				t.Fatalf("valid command refused: %v", err)
			}
			return
		}
		if !valid {
			t.Fatal("invalid UTF-8 encoded")
		}
		body, err := ReadFrame(bufio.NewReader(bytes.NewReader(out)), nil)
		if err != nil {
			t.Fatal(err)
		}
		var got Command
		if err := proto.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(in, &got) {
			t.Fatalf("round trip: %v != %v", in, &got)
		}
	})
}
