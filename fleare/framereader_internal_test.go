package fleare

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// choppy returns its data a few bytes at a time, failing with a deadline
// error between every two chunks, as an interrupted socket does.
type choppy struct {
	data []byte
	step int
	fail bool
}

func (c *choppy) Read(p []byte) (int, error) {
	if c.fail = !c.fail; c.fail {
		return 0, os.ErrDeadlineExceeded
	}
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.step)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// A frame read across interruptions comes out whole, and the next one
// after it: the stream stays in step.
func TestFrameReaderResumes(t *testing.T) {
	big := bytes.Repeat([]byte("x"), chunkLen+7)
	var stream []byte
	want := [][]byte{[]byte("first"), big, []byte("last")}
	for _, body := range want {
		var err error
		if stream, err = wire.AppendFrame(stream, &wire.Response{Result: body}); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []int{3, 997} {
		br := bufio.NewReaderSize(&choppy{data: stream, step: step}, 16)
		var fr frameReader
		var got [][]byte
		for len(got) < 3 {
			body, err := fr.read(br, nil)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			var resp wire.Response
			if err := proto.Unmarshal(body, &resp); err != nil {
				t.Fatalf("step %d: frame %d: %v", step, len(got), err)
			}
			got = append(got, resp.GetResult())
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("step %d: frame %d is %d bytes, want %d", step, i, len(got[i]), len(want[i]))
			}
		}
		if _, err := fr.read(br, nil); !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("step %d: after the last frame: %v", step, err)
		}
	}
}

// Lengths the protocol forbids are refused before anything is allocated.
func TestFrameReaderRefusesBadLengths(t *testing.T) {
	for _, hdr := range [][]byte{{0, 0, 0, 0}, {0, 0xa0, 0, 1}} {
		var fr frameReader
		_, err := fr.read(bufio.NewReader(bytes.NewReader(hdr)), nil)
		var fe *wire.FrameError
		if !errors.As(err, &fe) {
			t.Fatalf("header %v: %v", hdr, err)
		}
	}
}
