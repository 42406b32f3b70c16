package reconcile

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fleare-manager/fleare-manager/spec"
)

// Few names, so desired and actual share many; few values per field, so
// specs are often equal.
var (
	genName     = rapid.SampledFrom([]string{"a", "b", "cache", "d", "e", "f", "jobs", "h", "i", "sessions"})
	genString   = rapid.SampledFrom([]string{"", "10.0.0.1", "cache.internal", "app user", "/run/secrets/fleare"})
	genPassword = rapid.OneOf(rapid.Just(""), rapid.StringMatching(`pw_[A-Za-z0-9]{8,12}`))
	genInt      = rapid.SampledFrom([]int{0, 1, 8, 64})
	genDuration = rapid.SampledFrom([]time.Duration{time.Second, 1500 * time.Millisecond, 30 * time.Second})
)

// settable is every field of spec.Target but Name: the fields a key sets.
var settable = func() []leaf {
	var out []leaf
	for _, l := range leaves(reflect.TypeFor[spec.Target](), "", nil) {
		if l.name != "Name" {
			out = append(out, l)
		}
	}
	return out
}()

// setField draws a new value for settable field k of tg, by its type.
func setField(t *rapid.T, tg *spec.Target, k int) {
	v := reflect.ValueOf(tg).Elem().FieldByIndex(settable[k].index)
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = genString.Draw(t, settable[k].name)
	case *spec.Secret:
		*p = spec.NewSecret(genPassword.Draw(t, settable[k].name))
	case *int:
		*p = genInt.Draw(t, settable[k].name)
	case *time.Duration:
		*p = genDuration.Draw(t, settable[k].name)
	case *spec.Users:
		var us []spec.User
		for i, pw := range rapid.SliceOfN(genPassword, 0, 2).Draw(t, settable[k].name) {
			us = append(us, spec.User{Username: fmt.Sprint("u", i), Password: spec.NewSecret(pw)})
		}
		*p = spec.NewUsers(us...)
	default:
		t.Fatalf("no generator for spec.Target.%s (%T)", settable[k].name, p)
	}
}

func drawTarget(t *rapid.T, name string) spec.Target {
	tg := spec.Target{Name: name}
	for k := range settable {
		setField(t, &tg, k)
	}
	return tg
}

// mutate redraws between one and three fields of tg.
func mutate(t *rapid.T, tg spec.Target) spec.Target {
	for range rapid.IntRange(1, 3).Draw(t, "mutations") {
		setField(t, &tg, rapid.IntRange(0, len(settable)-1).Draw(t, "field"))
	}
	return tg
}

func drawConfig(t *rapid.T) *spec.Config {
	names := rapid.SliceOfNDistinct(genName, 0, 10, rapid.ID[string]).Draw(t, "names")
	slices.Sort(names)
	c := &spec.Config{Version: spec.Version}
	for _, n := range names {
		c.Targets = append(c.Targets, drawTarget(t, n))
	}
	return c
}

// drawCurrent draws what might run while desired is wanted: each desired
// target absent, equal or changed, and other targets; sorted, or shuffled
// to exercise the sorting path.
func drawCurrent(t *rapid.T, desired *spec.Config) *spec.Config {
	c := &spec.Config{Version: spec.Version}
	for _, d := range desired.Targets {
		switch rapid.IntRange(0, 2).Draw(t, "fate") {
		case 1:
			c.Targets = append(c.Targets, d)
		case 2:
			c.Targets = append(c.Targets, mutate(t, d))
		}
	}
	for _, n := range rapid.SliceOfNDistinct(genName, 0, 4, rapid.ID[string]).Draw(t, "extra") {
		if _, ok := desired.Lookup(n); !ok {
			c.Targets = append(c.Targets, drawTarget(t, n))
		}
	}
	slices.SortStableFunc(c.Targets, func(a, b spec.Target) int { return cmp.Compare(a.Name, b.Name) })
	if rapid.Bool().Draw(t, "shuffle") {
		c.Targets = rapid.Permutation(c.Targets).Draw(t, "order")
	}
	return c
}

// applyModel applies p to a model of c (name → spec),
// doing for each kind only what that kind may do, and fails on any action
// that does not fit the model.
func applyModel(t *rapid.T, c *spec.Config, p Plan) map[string]spec.Target {
	m := map[string]spec.Target{}
	for _, tg := range c.Targets {
		m[tg.Name] = tg
	}
	for _, a := range p.Actions {
		cur, running := m[a.Name]
		if a.Kind == Create {
			if running {
				t.Fatalf("create of running target %q", a.Name)
			}
			m[a.Name] = a.Desired
			continue
		}
		if !running || cur != a.Current {
			t.Fatalf("%v of %q: current %+v does not match the running %+v", a.Kind, a.Name, a.Current, cur)
		}
		next := cur
		switch a.Kind {
		case Delete:
			delete(m, a.Name)
			continue
		case Replace:
			next = a.Desired
		case Update: // settings, pool size and listen section, never the binding
			next.Pool, next.Timeouts, next.Retry, next.Listen = a.Desired.Pool, a.Desired.Timeouts, a.Desired.Retry, a.Desired.Listen
		case Resize: // the pool size only
			next.Pool.Size = a.Desired.Pool.Size
		default:
			t.Fatalf("action %+v has kind %v", a, a.Kind)
		}
		if a.Kind != Replace && len(a.Changes) == 0 {
			t.Fatalf("%v of %q lists no change", a.Kind, a.Name)
		}
		m[a.Name] = next
	}
	return m
}

func TestPropertyApplyingThePlanYieldsDesired(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		desired := drawConfig(t)
		actual := drawCurrent(t, desired)
		got := applyModel(t, actual, Diff(desired, actual))
		want := map[string]spec.Target{}
		for _, d := range desired.Targets {
			want[d.Name] = d
		}
		if !maps.Equal(got, want) {
			t.Fatalf("after the plan:\n%+v\nwant\n%+v", got, want)
		}
	})
}

func TestPropertyDiffOfItsOwnStateIsEmpty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		desired := drawConfig(t)
		if p := Diff(desired, desired); !p.Empty() {
			t.Fatalf("Diff(d, d) =\n%s", p)
		}
		shuffled := &spec.Config{Targets: rapid.Permutation(desired.Targets).Draw(t, "order")}
		if p := Diff(desired, shuffled); !p.Empty() {
			t.Fatalf("Diff(d, shuffled d) =\n%s", p)
		}
	})
}

func TestPropertyPlanShape(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		desired := drawConfig(t)
		actual := drawCurrent(t, desired)
		p := Diff(desired, actual)
		seen := map[string]bool{}
		for i, a := range p.Actions {
			if seen[a.Name] {
				t.Fatalf("two actions for %q:\n%s", a.Name, p)
			}
			seen[a.Name] = true
			if i > 0 {
				prev := p.Actions[i-1]
				if c := cmp.Or(cmp.Compare(prev.Kind, a.Kind), cmp.Compare(prev.Name, a.Name)); c >= 0 {
					t.Fatalf("actions %d and %d out of order:\n%s", i-1, i, p)
				}
			}
			if a.Kind == Resize && (len(a.Changes) != 1 || a.Changes[0].Path != "pool.size") {
				t.Fatalf("resize with changes %+v", a.Changes)
			}
			for _, c := range a.Changes {
				if c.Sensitive && (c.Old != "" || c.New != "") {
					t.Fatalf("sensitive change %q carries values", c.Path)
				}
			}
		}
	})
}

func TestPropertyNoSecretInOutput(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		desired := drawConfig(t)
		actual := drawCurrent(t, desired)
		p := Diff(desired, actual)
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		outs := []string{p.String(), string(js)}
		for _, a := range p.Actions {
			outs = append(outs, a.String(), a.LogValue().String())
		}
		all := strings.Join(outs, "\n")
		var secrets []string
		for _, d := range desired.Targets {
			secrets = append(secrets, d.Password.Reveal())
		}
		for _, c := range actual.Targets {
			secrets = append(secrets, c.Password.Reveal())
		}
		for _, s := range secrets {
			if s != "" && strings.Contains(all, s) {
				t.Fatalf("password %q appears in the output:\n%s", s, all)
			}
		}
	})
}

func TestPropertyDeterministicAndPure(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		desired := drawConfig(t)
		actual := drawCurrent(t, desired)
		desiredBefore := slices.Clone(desired.Targets)
		actualBefore := slices.Clone(actual.Targets)

		p1, p2 := Diff(desired, actual), Diff(desired, actual)
		shuffled := &spec.Config{Targets: rapid.Permutation(actual.Targets).Draw(t, "reorder")}
		p3 := Diff(&spec.Config{Version: desired.Version, Targets: rapid.Permutation(desired.Targets).Draw(t, "reorder desired")}, shuffled)

		if !slices.Equal(desired.Targets, desiredBefore) || !slices.Equal(actual.Targets, actualBefore) {
			t.Fatal("Diff modified its input")
		}
		if !reflect.DeepEqual(p1, p2) || !reflect.DeepEqual(p1, p3) {
			t.Fatalf("plans differ:\n%s\n%s\n%s", p1, p2, p3)
		}
		j1, _ := json.Marshal(p1)
		j2, _ := json.Marshal(p2)
		if p1.String() != p2.String() || string(j1) != string(j2) {
			t.Fatal("renderings differ between runs")
		}
		var back Plan
		if err := json.Unmarshal(j1, &back); err != nil {
			t.Fatal(err)
		}
		if back.String() != p1.String() {
			t.Fatalf("decoded plan renders\n%s\nwant\n%s", back, p1)
		}
	})
}
