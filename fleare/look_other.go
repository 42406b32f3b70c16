//go:build !linux

package fleare

// lookAll returns what each idle connection holds, one idleErr at a time.
func lookAll(conns []*Conn) []error {
	out := make([]error, len(conns))
	var b lookBufs
	b.look(conns, out)
	return out
}

// lookBufs needs no buffer where each connection is looked at alone.
type lookBufs struct{}

// look sets out[i] to what conns[i] holds, one idleErr at a time.
func (*lookBufs) look(conns []*Conn, out []error) {
	for i, c := range conns {
		out[i] = c.idleErr()
	}
}
