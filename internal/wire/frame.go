// Package wire holds the Fleare protocol's messages (generated from
// comm.proto) and its framing: a 4-byte big-endian length followed by that
// many bytes of protobuf. The client in package fleare and the test server
// in package fleartest both speak through it.
package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

const (
	// HeaderLen is the size of a frame's length prefix.
	HeaderLen = 4
	// MaxFrameLen is the largest frame body the server accepts (10 MiB).
	MaxFrameLen = 10 << 20
	// chunkLen bounds how much ReadFrame allocates ahead of the bytes that
	// have actually arrived, so that a peer claiming a large frame and then
	// going quiet costs little memory.
	chunkLen = 64 << 10
)

// FrameError reports a frame whose length the protocol forbids: zero, or more
// than MaxFrameLen. The stream cannot be resynchronised after one.
type FrameError struct {
	// Len is the length the frame claimed, or would have had when encoding.
	Len uint64
}

func (e *FrameError) Error() string {
	if e.Len == 0 {
		return "fleare: invalid frame: zero length"
	}
	return fmt.Sprintf("fleare: invalid frame: length %d exceeds the limit of %d bytes", e.Len, MaxFrameLen)
}

// ReadFrame reads one frame from r and returns its body. The body is stored
// in buf when buf is large enough, so a caller that passes the previous
// result back in reads without allocating. A length of zero or above
// MaxFrameLen is refused with *FrameError before anything is allocated. A
// stream that ends cleanly between frames gives io.EOF; one that ends inside
// a frame gives io.ErrUnexpectedEOF.
func ReadFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	hdr, err := r.Peek(HeaderLen)
	if err != nil {
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return buf[:0], err
	}
	n := int(binary.BigEndian.Uint32(hdr))
	_, _ = r.Discard(HeaderLen) // cannot fail: the bytes were peeked
	if n == 0 || n > MaxFrameLen {
		return buf[:0], &FrameError{Len: uint64(n)}
	}
	if n <= cap(buf) || n <= chunkLen {
		if n > cap(buf) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return buf[:0], unexpected(err)
		}
		return buf, nil
	}
	return readLarge(r, buf[:0], n)
}

// readLarge reads an n-byte body, growing buf as the bytes arrive rather
// than allocating n up front.
func readLarge(r io.Reader, buf []byte, n int) ([]byte, error) {
	for len(buf) < n {
		step := min(n-len(buf), max(chunkLen, len(buf)))
		if cap(buf)-len(buf) < step {
			grown := make([]byte, len(buf), len(buf)+step)
			copy(grown, buf)
			buf = grown
		}
		got, err := io.ReadFull(r, buf[len(buf):len(buf)+step])
		buf = buf[:len(buf)+got]
		if err != nil {
			return buf[:0], unexpected(err)
		}
	}
	return buf, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendFrame appends m, framed, to dst. On error dst is returned unchanged
// in length: a message that does not marshal (a string that is not valid
// UTF-8, for one), that encodes to nothing, or that is larger than
// MaxFrameLen is never put on the wire.
func AppendFrame(dst []byte, m proto.Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	out, err := proto.MarshalOptions{}.MarshalAppend(dst, m)
	if err != nil {
		return dst[:start], fmt.Errorf("fleare: encoding message: %w", err)
	}
	n := len(out) - start - HeaderLen
	if n == 0 || n > MaxFrameLen {
		return out[:start], &FrameError{Len: uint64(n)}
	}
	binary.BigEndian.PutUint32(out[start:], uint32(n))
	return out, nil
}
