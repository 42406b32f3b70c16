package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

func frame(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(out, body...)
}

func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    []string // bodies read before the error
		wantErr error
		frameLn uint64 // when wantErr is a *FrameError
	}{
		{name: "empty stream", in: nil, wantErr: io.EOF},
		{name: "one frame", in: frame([]byte("abc")), want: []string{"abc"}, wantErr: io.EOF},
		{name: "two frames", in: append(frame([]byte("ab")), frame([]byte("cde"))...), want: []string{"ab", "cde"}, wantErr: io.EOF},
		{name: "zero length", in: header(0), wantErr: &FrameError{}, frameLn: 0},
		{name: "just over the limit", in: header(MaxFrameLen + 1), wantErr: &FrameError{}, frameLn: MaxFrameLen + 1},
		{name: "huge length", in: header(0xffffffff), wantErr: &FrameError{}, frameLn: 0xffffffff},
		{name: "truncated header", in: []byte{0, 0}, wantErr: io.ErrUnexpectedEOF},
		{name: "truncated body", in: append(header(10), "abc"...), wantErr: io.ErrUnexpectedEOF},
		{name: "frame then truncated header", in: append(frame([]byte("x")), 0), want: []string{"x"}, wantErr: io.ErrUnexpectedEOF},
		{name: "truncated large body", in: append(header(MaxFrameLen), make([]byte, 200<<10)...), wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(bytes.NewReader(tt.in))
			var got []string
			var err error
			for {
				var body []byte
				body, err = ReadFrame(br, nil)
				if err != nil {
					break
				}
				got = append(got, string(body))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("bodies = %q, want %q", got, tt.want)
			}
			var fe *FrameError
			if _, isFrame := tt.wantErr.(*FrameError); isFrame {
				if !errors.As(err, &fe) || fe.Len != tt.frameLn {
					t.Fatalf("err = %v, want a FrameError for length %d", err, tt.frameLn)
				}
				if !strings.HasPrefix(err.Error(), "fleare: invalid frame") {
					t.Errorf("message %q lacks the package prefix", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestReadFrameLargeBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16) // 3 MiB: read in growing chunks
	br := bufio.NewReader(bytes.NewReader(frame(body)))
	got, err := ReadFrame(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatal("large body corrupted")
	}
}

// A peer that claims the maximum length and sends little must not make the
// reader allocate the claimed size.
func TestReadFrameDoesNotTrustClaimedLength(t *testing.T) {
	in := append(header(MaxFrameLen), make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 20 {
		br := bufio.NewReader(bytes.NewReader(in))
		if _, err := ReadFrame(br, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 20*(256<<10) {
		t.Fatalf("allocated %d bytes for 20 truncated frames claiming 10 MiB each", grew)
	}
}

func TestReadFrameReusesBuffer(t *testing.T) {
	in := bytes.Repeat(frame([]byte("hello")), 1000)
	r := bytes.NewReader(in)
	br := bufio.NewReader(r)
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(500, func() {
		var err error
		buf, err = ReadFrame(br, buf)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ReadFrame allocated %v times per frame with a reused buffer", allocs)
	}
}

func TestAppendFrame(t *testing.T) {
	out, err := AppendFrame([]byte("prefix"), &Command{Command: "GET", Args: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(out[:6]) != "prefix" {
		t.Fatal("prefix overwritten")
	}
	body, err := ReadFrame(bufio.NewReader(bytes.NewReader(out[6:])), nil)
	if err != nil {
		t.Fatal(err)
	}
	var c Command
	if err := proto.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.GetCommand() != "GET" || len(c.GetArgs()) != 1 || c.GetArgs()[0] != "k" {
		t.Fatalf("round trip gave %v", &c)
	}
}

func TestAppendFrameRefuses(t *testing.T) {
	tests := []struct {
		name  string
		msg   proto.Message
		frame bool // a *FrameError rather than an encoding error
	}{
		{name: "empty message", msg: &Command{}, frame: true},
		{name: "too large", msg: &Command{Command: "SET", Args: []string{"k", strings.Repeat("v", MaxFrameLen)}}, frame: true},
		{name: "invalid utf-8", msg: &Command{Command: "SET", Args: []string{"k", "\xff"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := AppendFrame(dst, tt.msg)
			if err == nil {
				t.Fatal("no error")
			}
			var fe *FrameError
			if errors.As(err, &fe) != tt.frame {
				t.Errorf("err = %v (%T), frame error expected: %v", err, err, tt.frame)
			}
			if string(out) != "keep" {
				t.Errorf("dst became %q", out[:min(len(out), 16)])
			}
		})
	}
}
