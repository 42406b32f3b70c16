//go:build !unix

package fleare

// alive reports whether an idle connection looks usable. Without a portable
// non-blocking peek, only what the connection already knows is checked; a
// peer that went away is found by the next request instead.
func (c *Conn) alive() bool {
	return !c.broken.Load() && (c.br == nil || c.br.Buffered() == 0)
}
