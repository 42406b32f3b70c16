package fleare

import (
	"syscall"
	"unsafe"
)

// pollFd is struct pollfd.
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

const (
	pollIn    = 0x1
	pollErr   = 0x8
	pollHup   = 0x10
	pollNval  = 0x20
	pollRdHup = 0x2000
	// lookChunk bounds the sockets asked about in one system call.
	lookChunk = 1024
)

// lookAll returns what each idle connection holds, as idleErr does; see
// lookBufs.look.
func lookAll(conns []*Conn) []error {
	out := make([]error, len(conns))
	var b lookBufs
	b.look(conns, out)
	return out
}

// lookBufs holds the buffers of look, kept from one call to the next so
// that the health checker's rounds allocate nothing once they have grown.
type lookBufs struct {
	fds []pollFd
	idx []int
}

// look sets out[i] to what conns[i] holds, as idleErr does, with one ppoll
// system call per lookChunk sockets instead of one peek per socket: only a
// socket with something to read or an error is then peeked at. The
// connections must be owned by the caller (taken out of use), so that their
// sockets stay open meanwhile.
func (b *lookBufs) look(conns []*Conn, out []error) {
	for start := 0; start < len(conns); start += lookChunk {
		fds, idx := b.fds[:0], b.idx[:0]
		for i := start; i < min(start+lookChunk, len(conns)); i++ {
			fd, ok := conns[i].socketFd()
			if !ok {
				out[i] = conns[i].idleErr() // no socket: what it already read
				continue
			}
			fds = append(fds, pollFd{fd: int32(fd), events: pollIn | pollRdHup})
			idx = append(idx, i)
		}
		b.fds, b.idx = fds, idx
		if !ppollNow(fds) {
			for _, i := range idx {
				out[i] = conns[i].idleErr()
			}
			continue
		}
		for k, f := range fds {
			i := idx[k]
			if f.revents != 0 || conns[i].broken.Load() || conns[i].br.Buffered() > 0 {
				out[i] = conns[i].idleErr()
			} else {
				out[i] = nil
			}
		}
	}
}

// ppollNow asks, without waiting, which of fds are readable or failed,
// reporting false if the system call failed.
func ppollNow(fds []pollFd) bool {
	if len(fds) == 0 {
		return true
	}
	var ts syscall.Timespec // zero: do not wait
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)),
			uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch errno {
		case 0:
			return true
		case syscall.EINTR:
			continue
		}
		return false
	}
}

// socketFd returns the connection's file descriptor, found once. It is
// valid while the socket is open.
func (c *Conn) socketFd() (int, bool) {
	p := &c.peek
	if p.fn == nil && !p.none && !c.initPeek() {
		return 0, false
	}
	if p.none || c.broken.Load() {
		return 0, false
	}
	return p.fd, true
}

// lookSocket peeks at the socket with one recvfrom(MSG_PEEK|MSG_DONTWAIT)
// on its descriptor, recording what it saw in c.peek. Going around the
// RawConn skips its locking, its deadline check and the scheduler's
// bookkeeping of a system call that may block (this one cannot): about a
// third of what a look cost. The descriptor is used without holding a
// reference on it, so a connection closed while it is looked at (a forced
// Close; broken is set before the socket is closed) may have had its
// descriptor reused: what the look saw is then dropped, and it reports the
// connection gone, which it is.
func (c *Conn) lookSocket() error {
	p := &c.peek
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(p.fd),
			uintptr(unsafe.Pointer(&p.buf[0])), uintptr(len(p.buf)),
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if c.broken.Load() {
			return errPeerGone
		}
		var err error
		if errno != 0 {
			err = errno
		}
		p.note(int(n), err)
		return nil
	}
}
