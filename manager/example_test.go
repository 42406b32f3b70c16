package manager_test

import (
	"context"
	"fmt"
	"log"

	"github.com/fleare-manager/fleare-manager/fleare/fleartest"
	"github.com/fleare-manager/fleare-manager/manager"
	"github.com/fleare-manager/fleare-manager/spec"
)

func Example() {
	ctx := context.Background()
	srv, err := fleartest.Start(fleartest.Options{}) // a server without auth
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	m, err := manager.New(manager.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)

	cfg, err := spec.Parse("fleare.yaml", fmt.Appendf(nil, `version: 1
targets:
  cache:
    host: %s
    port: %d
    pool: {size: 2}
`, srv.Host(), srv.Port()))
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.Apply(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Plan.Summary())

	cache := m.Client("cache")
	if err := cache.Set(ctx, "greeting", "hello"); err != nil {
		log.Fatal(err)
	}
	v, err := cache.Get(ctx, "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v, m.Status().Targets[0].Open)
	// Output:
	// 1 to create, 0 to replace, 0 to update, 0 to resize, 0 to delete
	// hello 2
}
