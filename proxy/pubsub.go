package proxy

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// Pub/sub cannot share pooled connections: the server pushes messages on
// the subscribed connection between the replies to its commands, and
// answers neither SUBSCRIBE nor UNSUBSCRIBE. A client that subscribes
// therefore gets a connection of its own (a link), opened with
// Options.Dial, on which the proxy sends only SUBSCRIBE, UNSUBSCRIBE and
// PING: every push read on it is relayed to the client, and each
// subscription change is followed by a PING whose reply shows the server
// has applied it, before the client's next request is read. That keeps
// the order the client sees on a real server: a request sent after
// SUBSCRIBE, such as a PUBLISH through the pool, runs once the
// subscription is in place. The client's other requests keep going through
// the pool. The link is closed when the client unsubscribes from every
// channel or leaves; a link that fails is opened again with backoff and
// the client's channels subscribed again (pushes published meanwhile are
// lost, as they are on a server restart).

const (
	// subscribeTimeout bounds opening a link (the wait for the dial gate
	// included) and each subscription change's round trip on it. When it
	// passes, the client's next request is read anyway and the link is
	// retried in the background.
	subscribeTimeout = 10 * time.Second
	// retireTimeout bounds the last round trip on a link being replaced
	// (see retire): a server that does not answer it holds up the
	// client's subscription changes no longer than this.
	retireTimeout = time.Second
	minBackoff    = 50 * time.Millisecond
	maxBackoff    = 5 * time.Second
)

var errLinkLost = errors.New("proxy: pub/sub connection lost")

// pubsub manages one session's link. Its run goroutine owns the link and
// the channel list; the reader hands it commands and waits for each.
type pubsub struct {
	s      *session
	cmds   chan psCmd
	poke   chan struct{} // capacity 1: a reconnect was asked for
	cancel context.CancelFunc

	// Owned by run.
	chans    []string // channels subscribed to, in order
	link     *link
	backoff  time.Duration
	retrying bool // the retry timer is set
}

// psCmd is a subscription change; ack is closed once it is applied.
type psCmd struct {
	subscribe bool
	chans     []string
	ack       chan struct{}
}

// link is one dedicated connection and its receiver goroutine.
type link struct {
	conn    *fleare.Conn
	replies chan struct{} // capacity 1: a reply (not a push) arrived
	stop    chan struct{} // closed when the link is being closed
	done    chan struct{} // closed when the receiver has returned
}

// subscribe handles SUBSCRIBE, which gets no reply.
func (s *session) subscribe(ctx context.Context, chans []string) bool {
	if len(chans) == 0 {
		return true
	}
	if s.cfg.Dial == nil {
		s.p.emit(EventClientDropped, s.remote, s.user, "SUBSCRIBE, but pub/sub is not set up on this proxy")
		return false
	}
	ps := s.ps.Load()
	if ps == nil {
		pctx, cancel := context.WithCancel(ctx)
		ps = &pubsub{s: s, cmds: make(chan psCmd), poke: make(chan struct{}, 1), cancel: cancel}
		s.ps.Store(ps)
		s.wg.Go(func() { ps.run(pctx) })
	}
	return ps.do(ctx, psCmd{subscribe: true, chans: chans})
}

// unsubscribe handles UNSUBSCRIBE, which gets no reply. Without channels
// it leaves every channel.
func (s *session) unsubscribe(ctx context.Context, chans []string) bool {
	ps := s.ps.Load()
	if ps == nil {
		return true
	}
	return ps.do(ctx, psCmd{chans: chans})
}

// do hands c to run and waits until it is applied.
func (ps *pubsub) do(ctx context.Context, c psCmd) bool {
	c.ack = make(chan struct{})
	select {
	case ps.cmds <- c:
	case <-ps.s.broken:
		return false
	case <-ctx.Done():
		return false
	}
	select {
	case <-c.ack:
		return true
	case <-ps.s.broken:
		return false
	case <-ctx.Done():
		return false
	}
}

// stop ends run, which closes the link.
func (ps *pubsub) stop() { ps.cancel() }

// reconnect asks run to replace the link.
func (ps *pubsub) reconnect() {
	select {
	case ps.poke <- struct{}{}:
	default:
	}
}

// run applies subscription changes and keeps the link open while the
// client has channels, until ctx ends.
func (ps *pubsub) run(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	defer ps.closeLink()
	for {
		var lost <-chan struct{}
		if ps.link != nil {
			lost = ps.link.done
		}
		select {
		case c := <-ps.cmds:
			ps.apply(ctx, c)
			close(c.ack)
		case <-lost:
			ps.closeLink()
		case <-ps.poke:
			ps.replace(ctx)
		case <-retry.C:
			ps.retrying = false
			ps.open(ctx)
		case <-ctx.Done():
			return
		}
		if len(ps.chans) > 0 && ps.link == nil && !ps.retrying {
			ps.backoff = min(max(2*ps.backoff, minBackoff), maxBackoff)
			retry.Reset(ps.backoff)
			ps.retrying = true
		}
	}
}

// apply makes one subscription change.
func (ps *pubsub) apply(ctx context.Context, c psCmd) {
	if c.subscribe {
		for _, ch := range c.chans {
			if !slices.Contains(ps.chans, ch) {
				ps.chans = append(ps.chans, ch)
			}
		}
		if ps.link == nil {
			ps.open(ctx)
			return
		}
		ps.change(ctx, "SUBSCRIBE", c.chans)
		return
	}
	if len(c.chans) == 0 {
		ps.chans = nil
	} else {
		ps.chans = slices.DeleteFunc(ps.chans, func(ch string) bool { return slices.Contains(c.chans, ch) })
	}
	switch {
	case len(ps.chans) == 0:
		ps.closeLink() // released: the client has no channel left
	case ps.link != nil:
		ps.change(ctx, "UNSUBSCRIBE", c.chans)
	}
}

// change sends a subscription change on the link; a link that fails is
// closed, to be opened again.
func (ps *pubsub) change(ctx context.Context, command string, chans []string) {
	tctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	if err := ps.link.sync(tctx, command, chans); err != nil {
		ps.closeLink()
	}
}

// open opens the link if the client has channels and none is open.
func (ps *pubsub) open(ctx context.Context) {
	if ps.link != nil || len(ps.chans) == 0 {
		return
	}
	l, err := ps.dial(ctx)
	if err != nil {
		return // run schedules a retry
	}
	ps.link, ps.backoff = l, 0
	ps.s.p.subscribers.Add(1)
}

// replace opens a new link and subscribes it before retiring the old one.
// A reconnect asked for while the new link was being dialed means the
// server's address or credentials changed again meanwhile: the new link
// may then be on the server just left, so it is closed and the dial
// started over from run's loop, the old link kept until then.
func (ps *pubsub) replace(ctx context.Context) {
	if len(ps.chans) == 0 {
		return
	}
	l, err := ps.dial(ctx)
	if err != nil {
		return // the old link, if any, stays
	}
	select {
	case <-ps.poke:
		ps.shut(l)
		ps.reconnect()
		return
	default:
	}
	old := ps.link
	ps.link, ps.backoff = l, 0
	if old == nil {
		ps.s.p.subscribers.Add(1)
		return
	}
	ps.retire(ctx, old)
}

// retire unsubscribes l and waits for the PING behind it before closing
// l: every push the server wrote to l before it left the channels is then
// relayed, so a move loses none. A push published while both links were
// subscribed (on the same server) reaches the client twice.
func (ps *pubsub) retire(ctx context.Context, l *link) {
	tctx, cancel := context.WithTimeout(ctx, retireTimeout)
	defer cancel()
	_ = l.sync(tctx, "UNSUBSCRIBE", ps.chans)
	ps.shut(l)
}

// dial opens a link and subscribes it to the client's channels.
func (ps *pubsub) dial(ctx context.Context) (*link, error) {
	tctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	conn, err := ps.s.cfg.Dial(tctx)
	if err != nil {
		return nil, err
	}
	l := &link{conn: conn, replies: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	ps.s.wg.Go(func() { ps.receive(ctx, l) })
	if err := l.sync(tctx, "SUBSCRIBE", ps.chans); err != nil {
		ps.shut(l)
		return nil, err
	}
	return l, nil
}

// closeLink closes the current link, if any.
func (ps *pubsub) closeLink() {
	if ps.link == nil {
		return
	}
	ps.shut(ps.link)
	ps.link = nil
	ps.s.p.subscribers.Add(-1)
}

// shut closes l and waits for its receiver.
func (ps *pubsub) shut(l *link) {
	close(l.stop)
	_ = l.conn.Close()
	<-l.done
}

// receive relays the pushes read on l to the client, in the order they
// come, until l fails or is closed. Replies (to the PINGs of sync) are
// signalled on l.replies.
func (ps *pubsub) receive(ctx context.Context, l *link) {
	defer close(l.done)
	s := ps.s
	for {
		m, err := l.conn.Receive(ctx)
		if err != nil {
			return
		}
		if m.Topic == "" {
			select {
			case l.replies <- struct{}{}:
			default:
			}
			continue
		}
		c := &call{done: closedChan, topic: m.Topic}
		c.set(s, m.Reply)
		if !s.enqueue(c, l.stop) {
			s.unbuffer(int64(len(c.result)))
			return
		}
	}
}

// sync sends command on the link, then a PING, and waits for the PING's
// reply: the server handles a connection's frames in order, so the change
// is then in force.
func (l *link) sync(ctx context.Context, command string, args []string) error {
	select {
	case <-l.replies: // a reply left over from a sync that gave up
	default:
	}
	if err := l.conn.Send(ctx, command, args...); err != nil {
		return err
	}
	if err := l.conn.Send(ctx, "PING"); err != nil {
		return err
	}
	select {
	case <-l.replies:
		return nil
	case <-l.done:
		return errLinkLost
	case <-ctx.Done():
		return ctx.Err()
	}
}
