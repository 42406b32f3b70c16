//go:build unix

package fleare

import (
	"errors"
	"syscall"
)

// peeker looks at a connection's socket without blocking and without
// consuming anything. Its function is built once per connection, so that a
// look allocates nothing.
type peeker struct {
	raw  syscall.RawConn
	fn   func(fd uintptr) bool
	got  int   // bytes seen by the last look
	err  error // the last look's error, nil for "nothing to read"
	none bool  // not a socket (net.Pipe in tests): nothing can be seen
	fd   int   // the socket's file descriptor
	buf  [1]byte
}

// idleErr reports what an idle connection holds, without blocking and
// without sending anything: nil when there is nothing to read (the only
// healthy state), errStray when bytes are waiting (a reply no request
// asked for), errPeerGone when the server ended the stream or the socket
// failed. It must be called by the connection's owner.
func (c *Conn) idleErr() error {
	switch {
	case c.broken.Load():
		return errPeerGone
	case c.br != nil && c.br.Buffered() > 0:
		return errStray
	}
	p := &c.peek
	if p.fn == nil && !p.none {
		if !c.initPeek() {
			return nil
		}
	}
	if p.none {
		return nil
	}
	if c.lookSocket() != nil {
		return errPeerGone
	}
	switch {
	case p.got > 0:
		return errStray
	case p.err != nil:
		c.peerGone.Store(true)
		return errPeerGone
	}
	return nil
}

// initPeek builds the connection's peeker, reporting false when its socket
// cannot be looked at.
func (c *Conn) initPeek() bool {
	p := &c.peek
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		p.none = true
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		p.none = true
		return false
	}
	if raw.Control(func(fd uintptr) { p.fd = int(fd) }) != nil {
		p.none = true
		return false
	}
	p.raw = raw
	p.fn = func(fd uintptr) bool {
		for {
			n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			p.note(n, err)
			return true
		}
	}
	return true
}

// note records what one peek of n bytes, failing with err, saw.
func (p *peeker) note(n int, err error) {
	switch {
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK):
		p.got, p.err = 0, nil
	case err != nil:
		p.got, p.err = 0, err
	case n == 0:
		p.got, p.err = 0, errPeerGone // end of stream
	default:
		p.got, p.err = n, nil
	}
}
