package broadcast_test

import (
	"fmt"

	"github.com/fleare-manager/fleare-manager/internal/broadcast"
)

func ExampleBroadcaster() {
	b := broadcast.New[string]()
	defer b.Close()

	events, cancel := b.Subscribe(8)
	_, _ = b.Subscribe(1) // never read: keeps one event, loses the rest

	b.Publish("config.applied")
	b.Publish("target.created")
	cancel() // closes events; what was buffered stays readable

	for ev := range events {
		fmt.Println(ev)
	}
	fmt.Println("lost by subscribers that fell behind:", b.Dropped())
	// Output:
	// config.applied
	// target.created
	// lost by subscribers that fell behind: 1
}
