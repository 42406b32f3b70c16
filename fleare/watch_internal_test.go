package fleare

import "testing"

// A call the watch has woken (its deadline passed) and that is handed the
// reader role before it runs gets one token, not two: a second would stay
// in its channel and wake the next user of the recycled call for nothing,
// as a second reader.
func TestHandOffToCallWokenByWatch(t *testing.T) {
	p := &pipe{}
	c := calls.Get().(*call)
	c.watched = true
	p.queue.push(c)
	p.mu.Lock()
	c.expired = true
	c.signalLocked() // as watchFired does
	p.reading = true
	if drain := p.handOffLocked(); drain {
		t.Fatal("a drain was asked for with a waiting call queued")
	}
	p.mu.Unlock()
	if n := len(c.done); n != 1 || !c.lead {
		t.Fatalf("%d tokens, lead %v: want one token handing the role", n, c.lead)
	}
	<-c.done
	p.queue.pop()
	putCall(c)
}
