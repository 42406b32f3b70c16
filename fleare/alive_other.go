//go:build !unix

package fleare

// peeker is empty where no portable non-blocking peek exists.
type peeker struct{}

// idleErr reports what an idle connection holds. Without a portable
// non-blocking peek, only what the connection already read is checked: a
// stray reply or a vanished peer still in the kernel is found by the next
// request instead.
func (c *Conn) idleErr() error {
	switch {
	case c.broken.Load():
		return errPeerGone
	case c.br != nil && c.br.Buffered() > 0:
		return errStray
	}
	return nil
}
