package fleare

import (
	"bufio"
	"encoding/binary"
	"io"

	"github.com/fleare-manager/fleare-manager/internal/wire"
)

// chunkLen bounds how much a frame's body is allocated ahead of the bytes
// that have arrived, so that a peer announcing a large frame and then going
// quiet costs little memory.
const chunkLen = 64 << 10

// frameReader reads frames, as wire.ReadFrame does, but can be interrupted
// (by a deadline poked into the past when a request is canceled) and
// resumed: the bytes of a frame read so far are kept, so the stream stays in
// step and the abandoned reply can be read to its end later.
type frameReader struct {
	hdr  [wire.HeaderLen]byte
	nhdr int    // header bytes read
	want int    // the body's length, once the header is complete
	body []byte // the body read so far
}

// read reads the rest of the current frame, or a new one, and returns its
// body, stored in buf when buf is large enough. After an error the bytes
// read so far are kept for the next call; a zero or oversized length is
// refused with *wire.FrameError before anything is allocated.
func (r *frameReader) read(br *bufio.Reader, buf []byte) ([]byte, error) {
	if r.nhdr < wire.HeaderLen {
		n, err := io.ReadFull(br, r.hdr[r.nhdr:])
		r.nhdr += n
		if err != nil {
			if err == io.EOF && r.nhdr > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n = int(binary.BigEndian.Uint32(r.hdr[:]))
		if n == 0 || n > wire.MaxFrameLen {
			r.nhdr = 0
			return nil, &wire.FrameError{Len: uint64(n)}
		}
		r.want = n
		switch {
		case n <= cap(buf):
			r.body = buf[:0]
		case n <= chunkLen:
			r.body = make([]byte, 0, n)
		default:
			r.body = buf[:0] // grown as the bytes arrive
		}
	}
	for len(r.body) < r.want {
		step := min(r.want-len(r.body), max(chunkLen, len(r.body)))
		if cap(r.body)-len(r.body) < step {
			grown := make([]byte, len(r.body), len(r.body)+step)
			copy(grown, r.body)
			r.body = grown
		}
		n, err := io.ReadFull(br, r.body[len(r.body):len(r.body)+step])
		r.body = r.body[:len(r.body)+n]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	body := r.body
	r.nhdr, r.want, r.body = 0, 0, nil
	return body, nil
}
