package manager

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// maxHops bounds how many times one call moves to a target's next pool
// because the one it waited on was closed before sending the request.
const maxHops = 8

// Client sends requests to one named target, through whichever pool serves
// it at the moment: it keeps working across resizes, updates and replaces
// (during a replace, calls go to the new pool once it is full, while calls
// in flight finish on the old one), and after the target is removed its
// calls fail with ErrTargetRemoved, until a configuration brings the name
// back. Get one with Manager.Client and keep it for the life of the
// process; it is safe for concurrent use.
type Client struct {
	m    *Manager
	name string
	t    atomic.Pointer[target] // the target last found under name
}

// Client returns a handle on the target called name. The target need not be
// configured yet: calls fail with ErrUnknownTarget until it is.
func (m *Manager) Client(name string) *Client {
	return &Client{m: m, name: name}
}

// Name returns the target name the Client sends to.
func (c *Client) Name() string { return c.name }

// target returns the live target under c's name.
func (c *Client) target() (*target, error) {
	if t := c.t.Load(); t != nil && !t.removed.Load() {
		return t, nil
	}
	m := c.m
	m.mu.Lock()
	t := m.targets[c.name]
	m.mu.Unlock()
	if t != nil {
		c.t.Store(t)
		return t, nil
	}
	select {
	case <-m.closing:
		return nil, ErrClosed
	default:
	}
	if c.t.Load() != nil {
		return nil, fmt.Errorf("%w: %q", ErrTargetRemoved, c.name)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownTarget, c.name)
}

// call runs f on the target's serving pool. When that pool was closed before
// the request was sent (fleare.ErrClosed, which guarantees nothing went on
// the wire), f runs again on the pool that serves now.
func call[T any](c *Client, ctx context.Context, f func(*fleare.Client) (T, error)) (T, error) {
	var start time.Time
	obs := c.m.opts.RequestObserver
	if obs != nil {
		start = time.Now()
	}
	var (
		v   T
		err error
	)
	for range maxHops {
		var t *target
		if t, err = c.target(); err != nil {
			break
		}
		p := t.active.Load()
		if v, err = f(p.client); !errors.Is(err, fleare.ErrClosed) {
			break
		}
		if t.active.Load() == p && !t.removed.Load() {
			break // the serving pool itself is closed: nothing to move to
		}
	}
	if obs != nil {
		obs(ctx, c.name, time.Since(start), err)
	}
	if err != nil {
		return v, fmt.Errorf("manager: target %q: %w", c.name, err)
	}
	return v, nil
}

// Do sends a command and returns its result (see fleare.Client.Do).
func (c *Client) Do(ctx context.Context, command string, args ...string) ([]byte, error) {
	return call(c, ctx, func(fc *fleare.Client) ([]byte, error) { return fc.Do(ctx, command, args...) })
}

// Exec sends a command and returns the server's reply as it came, an
// "Error" reply included (see fleare.Client.Exec).
func (c *Client) Exec(ctx context.Context, command string, args ...string) (fleare.Reply, error) {
	return call(c, ctx, func(fc *fleare.Client) (fleare.Reply, error) { return fc.Exec(ctx, command, args...) })
}

// Ping checks the target answers PING.
func (c *Client) Ping(ctx context.Context) error {
	_, err := call(c, ctx, func(fc *fleare.Client) (struct{}, error) { return struct{}{}, fc.Ping(ctx) })
	return err
}

// Status returns the target server's STATUS.
func (c *Client) Status(ctx context.Context) (fleare.ServerStatus, error) {
	return call(c, ctx, func(fc *fleare.Client) (fleare.ServerStatus, error) { return fc.Status(ctx) })
}

// Session returns the target server's SESSION for the connection used.
func (c *Client) Session(ctx context.Context) (fleare.SessionInfo, error) {
	return call(c, ctx, func(fc *fleare.Client) (fleare.SessionInfo, error) { return fc.Session(ctx) })
}

// Get returns the value of key ("" when it does not exist).
func (c *Client) Get(ctx context.Context, key string) (string, error) {
	return call(c, ctx, func(fc *fleare.Client) (string, error) { return fc.Get(ctx, key) })
}

// Set stores value under key.
func (c *Client) Set(ctx context.Context, key, value string) error {
	_, err := call(c, ctx, func(fc *fleare.Client) (struct{}, error) { return struct{}{}, fc.Set(ctx, key, value) })
	return err
}

// Delete removes key.
func (c *Client) Delete(ctx context.Context, key string) error {
	_, err := call(c, ctx, func(fc *fleare.Client) (struct{}, error) { return struct{}{}, fc.Delete(ctx, key) })
	return err
}

// Exists returns how many of keys exist.
func (c *Client) Exists(ctx context.Context, keys ...string) (int, error) {
	return call(c, ctx, func(fc *fleare.Client) (int, error) { return fc.Exists(ctx, keys...) })
}

// ExecBatch sends reqs as one batch and returns their outcomes in order
// (see fleare.Client.ExecBatch). Requests the serving pool refused with
// fleare.ErrClosed, before sending them, move to the pool that serves now,
// as Exec's do. The RequestObserver, if any, is called once per request,
// with the time the batch took and the request's error.
func (c *Client) ExecBatch(ctx context.Context, reqs []fleare.Request) []fleare.Outcome {
	var start time.Time
	obs := c.m.opts.RequestObserver
	if obs != nil {
		start = time.Now()
	}
	out := make([]fleare.Outcome, len(reqs))
	todo := make([]int, len(reqs)) // requests not sent yet: indexes into reqs
	for i := range todo {
		todo[i] = i
	}
	for hop := 0; len(todo) > 0; hop++ {
		t, err := c.target()
		if err != nil {
			for _, i := range todo {
				out[i] = fleare.Outcome{Err: err}
			}
			break
		}
		p := t.active.Load()
		part := reqs
		if len(todo) < len(reqs) {
			part = make([]fleare.Request, len(todo))
			for k, i := range todo {
				part[k] = reqs[i]
			}
		}
		next := todo[:0]
		for k, o := range p.client.ExecBatch(ctx, part) {
			i := todo[k]
			out[i] = o
			if errors.Is(o.Err, fleare.ErrClosed) {
				next = append(next, i)
			}
		}
		// Move only when another pool serves now: the serving pool itself
		// closed means nothing to move to.
		if len(next) == 0 || hop+1 >= maxHops || (t.active.Load() == p && !t.removed.Load()) {
			break
		}
		todo = next
	}
	for i := range out {
		if out[i].Err != nil {
			out[i].Err = fmt.Errorf("manager: target %q: %w", c.name, out[i].Err)
		}
		if obs != nil {
			obs(ctx, c.name, time.Since(start), out[i].Err)
		}
	}
	return out
}
