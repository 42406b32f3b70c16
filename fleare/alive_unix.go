//go:build unix

package fleare

import (
	"errors"
	"syscall"
	"time"
)

// alive reports whether an idle connection's peer is still there, without
// blocking and without sending anything: a non-blocking peek that finds
// nothing to read means alive; end of stream, an error, or unexpected bytes
// (a reply nobody asked for) mean the connection must go. Connections that
// are not sockets (net.Pipe in tests) are assumed alive.
func (c *Conn) alive() bool {
	if c.broken.Load() {
		return false
	}
	if c.br != nil && c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	// A deadline left over from the last request would fail the raw read.
	if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		for {
			_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			// Nothing to read is the only healthy answer: a byte is a reply
			// nobody asked for, zero bytes the end of the stream.
			alive = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
			return true
		}
	})
	return err == nil && alive
}
