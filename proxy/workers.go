package proxy

import (
	"context"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
)

// workerIdle is how long a worker waits for another request before it
// returns.
const workerIdle = 2 * time.Second

// Requests that arrive together (a client pipelining) are sent to the
// backend concurrently, each from a worker goroutine. Workers are kept
// for workerIdle after a request and take the next one from any session:
// a fresh goroutine's stack is too small for the backend's call (the
// reply's decoding), and growing it on every request cost more than the
// rest of the request's work in the proxy.

// task is one request for a worker, or a batch of them (see batch.go):
// send it to the backend, complete its call.
type task struct {
	s     *session
	ctx   context.Context
	c     *call
	name  string
	args  []string
	post  func(fleare.Reply) fleare.Reply
	batch []batchItem      // set for a batch: c, name, args and post are unset
	reqs  []fleare.Request // the batch's requests
	sem   *semaphore       // holds a token per request
	size  int
}

// run sends the request and completes its call. The session counted it
// in its wg.
func (t *task) run() {
	if t.batch != nil {
		t.runBatch()
		return
	}
	s := t.s
	defer s.wg.Done()
	r := s.exec(t.ctx, t.name, t.args, t.post)
	t.sem.release()
	s.unbuffer(int64(t.size))
	t.c.set(s, r)
	close(t.c.done)
}

// runTask hands t to an idle worker, or starts one. Only sessions call
// it, so the proxy's wg is above zero.
func (p *Proxy) runTask(t task) {
	select {
	case p.tasks <- t:
	default:
		p.wg.Go(func() { p.worker(t) })
	}
}

// worker runs t, then the tasks it is handed, until it has waited
// workerIdle for one or Shutdown was called.
func (p *Proxy) worker(t task) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		t.run()
		t = task{} // hold nothing while idle
		idle.Reset(workerIdle)
		select {
		case t = <-p.tasks:
		case <-idle.C:
			return
		case <-p.quit:
			return
		}
	}
}
