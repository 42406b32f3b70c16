package fleare

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Fleare server is fragile at both ends of a connection's life: it
// strands connections that arrive together (and then accepts nobody until
// restarted), and it crashes when connections close together or while one
// is being accepted. Every dial and every close in this process therefore
// passes through a gate per server, a process-wide serial executor:
//
//   - A gate belongs to a server address, IP and port. A name is resolved
//     first (bounded by the dial's context), and a dial holds the gate of
//     every address the name resolves to, taken in a fixed order (sorted by
//     key), so two names for one server ("localhost" and "127.0.0.1") share
//     its gate, and no two dials can deadlock.
//   - One job at a time holds a gate: a dial (plus authentication), or a
//     close. After a close the gate stays shut for the close's spacing
//     (Options.CloseSpacing, default 10ms): the next close or dial to that
//     server starts no sooner.
//   - Closes go first: a queued close runs before a queued dial. A close is
//     queued by whoever gives the connection up and runs on whichever
//     goroutine frees the gate (or on a timer when the spacing ends), so
//     that nobody returning a connection waits for the spacing. A close is
//     bounded: it waits at most for the dial holding the gate (bounded by
//     twice its ConnectTimeout, see below) and the closes queued ahead of it.
//   - A dial that fails after its socket is open (canceled, timed out,
//     refused) is a close the server has not seen yet: it keeps the gate,
//     and waits (at most its ConnectTimeout, on a goroutine of its own)
//     until the server is done with the handshake (a half close answered
//     by the server's end of stream, or else the handshake finished), then
//     closes and leaves the gate shut for the spacing. A loaded server counts the handshake in
//     progress until then, and a dial let in meanwhile would be stranded.
//   - A connection the server already hung up on (end of stream or reset
//     seen) is closed at once: the server's side is already gone.
//
// With Options.Dialer set, the Dialer is given the address as written; its
// name is still resolved for the gate, and if it does not resolve the gate
// is keyed on the name as written (lower case), since a custom Dialer may
// reach names the resolver does not know.

// DefaultCloseSpacing is the pause after a close before anything else
// happens on its server's gate. On the real server, closes 5-20ms apart
// survived 180 rounds of 8, while back-to-back closes crashed it within 60.
const DefaultCloseSpacing = 10 * time.Millisecond

var gates = gateTable{m: make(map[string]*gate)}

// lookupNetIP resolves names; a variable so that tests need no DNS.
var lookupNetIP = net.DefaultResolver.LookupNetIP

// gateTable holds the gates in use, by key.
type gateTable struct {
	mu sync.Mutex
	m  map[string]*gate // guarded by mu; a gate is removed once unused and past its spacing
}

// gate serialises the dials and closes of one server address. All its
// fields are guarded by gates.mu.
type gate struct {
	key       string
	refs      int       // jobs waiting for or holding it
	busy      bool      // a job holds it
	notBefore time.Time // set by a close: no job starts before
	closes    fifo[*gateJob]
	dials     fifo[*gateJob]
	timer     *time.Timer // pumps the gate at notBefore; nil until first needed
	armed     bool
}

// gateJob is a dial or a close waiting for, then holding, its gates, which
// it takes in order: it holds gates[:held].
type gateJob struct {
	gates   []*gate
	held    int
	granted chan struct{} // a dial: receives a token each time a gate is handed to it
	close   func()        // a close: runs once every gate is held
	spacing time.Duration // a close: how long its gates stay shut after it
}

// gateKeys returns the keys of the gates a dial to host:port holds, sorted,
// with the addresses to dial (nil when the name did not resolve and a
// custom Dialer will dial it). Resolution is bounded by ctx.
func gateKeys(ctx context.Context, host string, port int, customDialer bool) ([]string, []netip.AddrPort, error) {
	addrs, err := resolve(ctx, host, port)
	if err != nil {
		if customDialer {
			return []string{"name " + strings.ToLower(net.JoinHostPort(host, strconv.Itoa(port)))}, nil, nil
		}
		return nil, nil, err
	}
	keys := make([]string, 0, len(addrs))
	for _, a := range addrs {
		keys = append(keys, a.String())
	}
	slices.Sort(keys)
	return slices.Compact(keys), addrs, nil
}

// resolve returns the addresses of host, in the resolver's order, IPv4
// addresses mapped into IPv6 unmapped, so that one server has one key.
func resolve(ctx context.Context, host string, port int) ([]netip.AddrPort, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), uint16(port))}, nil
	}
	ips, err := lookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("fleare: %s resolves to no address", host)
	}
	out := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		out[i] = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	}
	return out, nil
}

// newJobLocked returns a job for the gates of keys, created as needed.
func newJobLocked(keys []string) *gateJob {
	j := &gateJob{gates: make([]*gate, len(keys))}
	for i, k := range keys {
		g := gates.m[k]
		if g == nil {
			g = &gate{key: k}
			gates.m[k] = g
		}
		g.refs++
		j.gates[i] = g
	}
	return j
}

// enterGates waits, as long as ctx allows, until the dial may hold every
// gate of keys, and returns the job to leave them with.
func enterGates(ctx context.Context, keys []string) (*gateJob, error) {
	gates.mu.Lock()
	j := newJobLocked(keys)
	j.granted = make(chan struct{}, 1)
	gates.mu.Unlock()
	for j.held < len(j.gates) {
		g := j.gates[j.held]
		gates.mu.Lock()
		if g.freeForDialLocked(time.Now()) {
			g.busy = true
			j.held++
			gates.mu.Unlock()
			continue
		}
		g.dials.push(j)
		g.armLocked(time.Now())
		gates.mu.Unlock()
		select {
		case <-j.granted:
		case <-ctx.Done():
			gates.mu.Lock()
			if !g.dials.remove(j) {
				<-j.granted // handed over while giving up: held already counts it
			}
			gates.mu.Unlock()
			j.leave(0)
			return nil, ctx.Err()
		}
	}
	return j, nil
}

// leave releases a dial's gates; spacing, when positive, keeps them shut
// that long (the dial closed a socket).
func (j *gateJob) leave(spacing time.Duration) {
	gates.mu.Lock()
	now := time.Now()
	for i, g := range j.gates {
		if i < j.held {
			g.busy = false
			if spacing > 0 {
				g.notBefore = now.Add(spacing)
			}
		}
		g.refs--
	}
	var run []*gateJob
	for _, g := range j.gates {
		run = g.pumpLocked(now, run)
	}
	gates.mu.Unlock()
	runCloses(run)
}

// queueClose runs close with the gates of keys held, then keeps them shut
// for spacing. It runs close at once when the gates are free, and
// otherwise returns at once, close running later on the goroutine that
// frees the gates or on a timer.
func queueClose(keys []string, spacing time.Duration, close func()) {
	gates.mu.Lock()
	j := newJobLocked(keys)
	j.close, j.spacing = close, spacing
	run := j.advanceLocked(time.Now(), nil)
	gates.mu.Unlock()
	runCloses(run)
}

// advanceLocked takes a close job's next gates while they are free, and
// queues it on the first that is not. A job holding all its gates is
// appended to run, for runCloses.
func (j *gateJob) advanceLocked(now time.Time, run []*gateJob) []*gateJob {
	for j.held < len(j.gates) {
		g := j.gates[j.held]
		if !g.freeForCloseLocked(now) {
			g.closes.push(j)
			g.armLocked(now)
			return run
		}
		g.busy = true
		j.held++
	}
	return append(run, j)
}

// runCloses runs close jobs that hold their gates, outside gates.mu, and
// whatever their release makes runnable.
func runCloses(run []*gateJob) {
	for len(run) > 0 {
		j := run[0]
		run = run[1:]
		j.close()
		gates.mu.Lock()
		now := time.Now()
		for _, g := range j.gates {
			g.busy = false
			g.notBefore = now.Add(j.spacing)
			g.refs--
		}
		for _, g := range j.gates {
			run = g.pumpLocked(now, run)
		}
		gates.mu.Unlock()
	}
}

func (g *gate) freeForCloseLocked(now time.Time) bool {
	return !g.busy && g.closes.len() == 0 && !now.Before(g.notBefore)
}

func (g *gate) freeForDialLocked(now time.Time) bool {
	return g.freeForCloseLocked(now) && g.dials.len() == 0
}

// pumpLocked hands a free gate to its next job: a close first, else a
// dial. Close jobs that now hold all their gates are appended to run. A
// gate still in its spacing arms its timer; an unused one is forgotten.
func (g *gate) pumpLocked(now time.Time, run []*gateJob) []*gateJob {
	if g.busy {
		return run
	}
	if g.closes.len() == 0 && g.dials.len() == 0 {
		g.forgetLocked(now)
		return run
	}
	if now.Before(g.notBefore) {
		g.armLocked(now)
		return run
	}
	g.busy = true
	if j, ok := g.closes.pop(); ok {
		j.held++
		return j.advanceLocked(now, run)
	}
	j, _ := g.dials.pop()
	j.held++
	j.granted <- struct{}{}
	return run
}

// armLocked makes the timer pump an idle gate when its spacing ends.
func (g *gate) armLocked(now time.Time) {
	if g.busy || g.armed || !now.Before(g.notBefore) {
		return
	}
	g.armed = true
	d := g.notBefore.Sub(now)
	if g.timer == nil {
		g.timer = time.AfterFunc(d, g.fire)
		return
	}
	g.timer.Reset(d)
}

func (g *gate) fire() {
	gates.mu.Lock()
	g.armed = false
	run := g.pumpLocked(time.Now(), nil)
	gates.mu.Unlock()
	runCloses(run)
}

// forgetLocked removes an idle gate nobody uses once its spacing is over.
func (g *gate) forgetLocked(now time.Time) {
	if g.refs > 0 {
		return
	}
	if now.Before(g.notBefore) {
		g.armLocked(now) // its spacing must still hold for the next job
		return
	}
	if gates.m[g.key] == g {
		delete(gates.m, g.key)
	}
}
