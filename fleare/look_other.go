//go:build !linux

package fleare

// lookAll returns what each idle connection holds, one idleErr at a time.
func lookAll(conns []*Conn) []error {
	out := make([]error, len(conns))
	for i, c := range conns {
		out[i] = c.idleErr()
	}
	return out
}
