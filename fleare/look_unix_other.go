//go:build unix && !linux

package fleare

// lookSocket peeks at the socket through its RawConn, recording what it
// saw in c.peek; an error means the look itself failed.
func (c *Conn) lookSocket() error {
	p := &c.peek
	if err := p.raw.Read(p.fn); err != nil {
		// A deadline left in the past by an interrupt fails the look: clear it.
		if err := c.nc.SetReadDeadline(zeroTime); err != nil {
			return err
		}
		return p.raw.Read(p.fn)
	}
	return nil
}
