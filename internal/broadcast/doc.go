// Package broadcast fans events out to any number of subscribers without ever
// making the publisher wait for one of them.
//
// Each subscriber has its own buffered channel. Publish offers the event to
// every channel and moves on: a subscriber whose buffer is full loses that
// event, and the loss is counted for that subscriber and in total. A slow
// reader therefore costs only itself, never the publisher or its peers.
//
//	b := broadcast.New[Event]()
//	defer b.Close()
//
//	events, cancel := b.Subscribe(64)
//	defer cancel()
//	go func() {
//		for ev := range events { // ends on cancel or Close
//			log.Print(ev)
//		}
//	}()
//
//	b.Publish(Event{Kind: "config.applied"})
//
// Every subscriber sees events in the order Publish was called (concurrent
// calls are serialised), minus the ones it dropped. Cancel and Close close the
// channels they end; both are idempotent and safe to call concurrently with
// Publish.
package broadcast
