package filewatch_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fleare-manager/fleare-manager/internal/filewatch"
)

func ExampleWatch() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("size: 4\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	updates, err := filewatch.Watch(ctx, path, filewatch.Options{})
	if err != nil {
		log.Fatal(err)
	}
	u := <-updates
	fmt.Printf("%s: %s", u.Reason, u.Data)

	// Save the way editors do: write a temporary file, rename it over.
	tmp := filepath.Join(dir, ".config.yaml.swp")
	if err := os.WriteFile(tmp, []byte("size: 8\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		log.Fatal(err)
	}
	u = <-updates
	fmt.Printf("changed: %s", u.Data)

	cancel()
	for range updates { // closed once the watcher has stopped
	}
	// Output:
	// initial: size: 4
	// changed: size: 8
}
