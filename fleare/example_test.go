package fleare_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleare-manager/fleare-manager/fleare"
	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
)

func ExampleClient() {
	srv, err := fleartest.Start(fleartest.Options{Users: map[string]string{"root": "secret"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	c := fleare.NewClient(srv.Host(), srv.Port(), fleare.Options{
		PoolSize: 4,
		Username: "root",
		Password: "secret",
		OnEvent: func(e fleare.Event) {
			if e.Type == fleare.EventStateChanged {
				fmt.Println("state:", e.State)
			}
		},
	})
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	if err := c.Set(ctx, "greeting", "hello"); err != nil {
		panic(err)
	}
	v, _ := c.Get(ctx, "greeting")
	fmt.Println("greeting:", v)

	_, err = c.Do(ctx, "NO.SUCH.COMMAND")
	var se *fleare.ServerError
	if errors.As(err, &se) {
		fmt.Println("server said:", se.Kind())
	}

	if err := c.Resize(2); err != nil {
		panic(err)
	}
	fmt.Println("open:", c.Stats().Open)

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Close(closeCtx); err != nil {
		panic(err)
	}
	_, err = c.Do(ctx, "PING")
	fmt.Println(errors.Is(err, fleare.ErrClosed), fleare.SafeToRetry(err))
	// Output:
	// state: connecting
	// state: connected
	// greeting: hello
	// server said: InvalidCommandError
	// open: 2
	// state: disconnecting
	// state: disconnected
	// true true
}

func ExampleClient_ExecBatch() {
	srv, err := fleartest.Start(fleartest.Options{Users: map[string]string{"root": "secret"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	c := fleare.NewClient(srv.Host(), srv.Port(), fleare.Options{PoolSize: 2, Pipeline: 16, Username: "root", Password: "secret"})
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	defer c.Close(ctx)

	outs := c.ExecBatch(ctx, []fleare.Request{
		{Command: "SET", Args: []string{"k", "v"}},
		{Command: "GET", Args: []string{"k"}},
		{Command: "STR.GET", Args: []string{"k"}}, // refused alone: it can kill the server
		{Command: "PING", Args: []string{"hi"}},
	})
	for _, o := range outs {
		if o.Err != nil {
			fmt.Println("refused:", errors.Is(o.Err, fleare.ErrUnsafeCommand))
			continue
		}
		fmt.Printf("%s %q\n", o.Reply.Status, o.Reply.Result)
	}
	// Output:
	// Ok ""
	// Ok "v"
	// refused: true
	// Ok "PONG hi"
}
