package spec_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/fleare-manager/fleare-manager/spec"
)

func ExampleParser_Parse() {
	const file = `version: 1
defaults:
  username: app
  password: ${FLEARE_PASSWORD}
  pool: {size: 4}
targets:
  cache:
    host: 10.0.0.5
    pool: {max_queue: 0}
  sessions:
    host: fd00::17
    port: ${SESSIONS_PORT:-9220}
`
	p := spec.Parser{LookupEnv: func(name string) (string, bool) {
		if name == "FLEARE_PASSWORD" {
			return "s3cret", true
		}
		return "", false
	}}
	cfg, err := p.Parse("fleare.yaml", []byte(file))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range cfg.Targets {
		fmt.Printf("%s %s user=%s password=%v pool=%d/%d\n", t.Name, t.Addr(), t.Username, t.Password, t.Pool.Size, t.Pool.MaxQueue)
	}
	// Output:
	// cache 10.0.0.5:9219 user=app password=<secret> pool=4/0
	// sessions [fd00::17]:9220 user=app password=<secret> pool=4/1024
}

func ExampleErrors() {
	const file = `version: 1
targets:
  cache:
    host: 10.0.0.5
    poolSize: 8
    timeouts: {connect: 30000}
`
	_, err := spec.Parse("fleare.yaml", []byte(file))
	fmt.Println(err)
	fmt.Println("--")
	for _, e := range spec.Errors(err) {
		fmt.Printf("line %d, target %s, field %s\n", e.Line, e.Target, e.Field)
	}
	var first *spec.Error
	fmt.Println(errors.As(err, &first), first.Line)
	// Output:
	// fleare.yaml:5:5: target "cache": poolSize: unknown key; did you mean "size" under "pool"? (allowed: host, port, username, password, password_file, pool, timeouts, retry, listen)
	// fleare.yaml:6:25: target "cache": timeouts.connect: "30000" has no unit; write e.g. 30000ms or 30000s (units: ns, us, ms, s, m, h)
	// --
	// line 5, target cache, field poolSize
	// line 6, target cache, field timeouts.connect
	// true 5
}

func ExampleMarshal() {
	cfg, err := spec.Parse("fleare.yaml", []byte("version: 1\ntargets:\n  cache: {host: h, username: u, password: pw, retry: {interval: 90s}}\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _ := spec.Marshal(cfg)
	os.Stdout.Write(out)
	// Output:
	// version: 1
	// targets:
	//   cache:
	//     host: h
	//     port: 9219
	//     username: u
	//     password: <secret>
	//     pool:
	//       size: 10
	//       max_queue: 1024
	//       pipeline: 32
	//       health_check_interval: 1s
	//       max_lifetime: 0s
	//       lifetime_jitter: 0s
	//     timeouts:
	//       connect: 30s
	//       request: 30s
	//       drain: 10s
	//     retry:
	//       max_retries: 3
	//       interval: 1m30s
}
