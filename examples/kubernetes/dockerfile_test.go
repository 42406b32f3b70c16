package kubernetes

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// instruction is one Dockerfile instruction: its command, in lower case,
// and its arguments.
type instruction struct {
	cmd  string
	args []string
	line int
}

// dockerfile parses the repository's Dockerfile with BuildKit's own parser
// (the one docker build uses).
func dockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile: line %d: %s", w.Location.Start.Line, w.Short)
	}
	var out []instruction
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		out = append(out, in)
	}
	return out
}

// The image builds a static binary and runs it as a non-root user from a
// minimal base, with flearectl as its entry point.
func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	var froms []instruction
	start := 0 // the runtime stage's first instruction
	for i, in := range ins {
		if in.cmd == "from" {
			froms, start = append(froms, in), i
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want a build stage and a runtime stage, got %d FROM", len(froms))
	}
	if !strings.HasPrefix(froms[0].args[0], "golang:1.26") {
		t.Errorf("the build stage is %q, not Go 1.26 (go.mod's)", froms[0].args[0])
	}
	if !strings.HasPrefix(froms[1].args[0], "gcr.io/distroless/static") || !strings.HasSuffix(froms[1].args[0], ":nonroot") {
		t.Errorf("the runtime stage is %q, not distroless static nonroot", froms[1].args[0])
	}
	runtime := ins[start:]
	last := func(cmd string) *instruction {
		for i := len(runtime) - 1; i >= 0; i-- {
			if runtime[i].cmd == cmd {
				return &runtime[i]
			}
		}
		return nil
	}
	if u := last("user"); u == nil || strings.HasPrefix(u.args[0], "0") || strings.HasPrefix(u.args[0], "root") {
		t.Errorf("the image does not end as a non-root user: %+v", u)
	}
	if e := last("entrypoint"); e == nil || !slices.Equal(e.args, []string{"/usr/local/bin/flearectl"}) {
		t.Errorf("entry point: %+v", e)
	}
	built := false
	for _, in := range ins {
		if in.cmd == "run" && strings.Contains(strings.Join(in.args, " "), "CGO_ENABLED=0") &&
			strings.Contains(strings.Join(in.args, " "), "./cmd/flearectl") {
			built = true
		}
	}
	if !built {
		t.Error("no RUN builds ./cmd/flearectl with CGO_ENABLED=0 (a static binary)")
	}
}
