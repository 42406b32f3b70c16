package broadcast_test

import (
	"fmt"

	"github.com/fleare-manager/fleare-manager/internal/broadcast"
)

func ExampleBroadcaster() {
	b := broadcast.New[string]()
	defer b.Close()

	events, cancel := b.Subscribe(8)
	lossy, _ := b.Subscribe(1) // never read: keeps one event, loses the rest

	b.Publish("config.applied")
	b.Publish("target.created")
	cancel() // closes events; what was buffered stays readable

	for ev := range events {
		fmt.Println(ev)
	}
	lost, _ := b.DroppedFor(lossy)
	fmt.Println("lost by the full subscriber:", lost, "in total:", b.Dropped())
	// Output:
	// config.applied
	// target.created
	// lost by the full subscriber: 1 in total: 1
}
