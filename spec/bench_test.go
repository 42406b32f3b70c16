package spec

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// manyTargets returns a configuration of n targets with defaults, each
// target overriding a few settings, about 150 bytes per target.
func manyTargets(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\ndefaults:\n  port: 9219\n  username: app\n  password: ${FLEARE_PASSWORD}\n" +
		"  pool: {size: 4}\n  timeouts: {connect: 5s, request: 2s}\n  retry: {max_retries: 5, interval: 1s}\ntargets:\n")
	for i := range n {
		fmt.Fprintf(&b, "  cache-%05d:\n    host: 10.%d.%d.%d\n    pool:\n      size: %d\n    timeouts: {request: %dms}\n",
			i, i>>16&255, i>>8&255, i&255, 1+i%16, 100+i%900)
	}
	return []byte(b.String())
}

// BenchmarkParse10000 measures Parse on a 10,000-target file (target: under
// 200 ms), against two baselines on the same bytes: decoding them into a
// yaml.Node tree alone (the floor Parse builds on), and yaml.Unmarshal into
// plain structs (what a loader without positions or checks would cost).
func BenchmarkParse10000(b *testing.B) {
	data := manyTargets(10000)
	env := func(string) (string, bool) { return "s3cret", true }
	b.Run("spec.Parse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			cfg, err := Parser{LookupEnv: env}.Parse("bench.yaml", data)
			if err != nil || len(cfg.Targets) != 10000 {
				b.Fatalf("Parse: %d targets, %v", len(cfg.Targets), err)
			}
		}
	})
	b.Run("baseline=yaml.Node", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var n yaml.Node
			if err := yaml.Unmarshal(data, &n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=yaml.Unmarshal-structs", func(b *testing.B) {
		type plain struct {
			Version  int
			Defaults map[string]any
			Targets  map[string]struct {
				Host     string
				Pool     struct{ Size int }
				Timeouts struct{ Request string }
			}
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var p plain
			if err := yaml.Unmarshal(data, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
