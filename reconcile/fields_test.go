package reconcile

import (
	"reflect"
	"testing"

	"github.com/fleare-manager/fleare-manager/spec"
)

// leaf is one settable field of spec.Target, reached by index path.
type leaf struct {
	name  string // Go path, such as "Pool.MaxQueue"
	index []int
}

// leaves lists every field of typ, descending into spec's own struct types
// (but not into spec.Secret, which is a single value).
func leaves(typ reflect.Type, prefix string, index []int) []leaf {
	var out []leaf
	for i := range typ.NumField() {
		f := typ.Field(i)
		idx := append(append([]int(nil), index...), i)
		name := prefix + f.Name
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == reflect.TypeFor[spec.Target]().PkgPath() &&
			f.Type != reflect.TypeFor[spec.Secret]() && f.Type != reflect.TypeFor[spec.Users]() {
			out = append(out, leaves(f.Type, name+".", idx)...)
			continue
		}
		out = append(out, leaf{name: name, index: idx})
	}
	return out
}

// vary sets v to a value different from its current one, or reports that it
// does not know how.
func vary(v reflect.Value) bool {
	switch {
	case v.Type() == reflect.TypeFor[spec.Secret]():
		v.Set(reflect.ValueOf(spec.NewSecret("pw-" + v.Interface().(spec.Secret).Reveal() + "x")))
	case v.Type() == reflect.TypeFor[spec.Users]():
		us := append(v.Interface().(spec.Users).All(), spec.User{Username: "x", Password: spec.NewSecret("pw-x")})
		v.Set(reflect.ValueOf(spec.NewUsers(us...)))
	case v.Kind() == reflect.String:
		v.SetString(v.String() + "x")
	case v.CanInt():
		v.SetInt(v.Int() + 1)
	case v.CanUint():
		v.SetUint(v.Uint() + 1)
	case v.CanFloat():
		v.SetFloat(v.Float() + 1)
	case v.Kind() == reflect.Bool:
		v.SetBool(!v.Bool())
	default:
		return false
	}
	return true
}

// TestFieldsClassifyEveryTargetField fails when spec.Target gains a field
// that the table in fields.go does not classify: each field of the struct,
// changed alone, must show up as exactly one change, and every row of the
// table must be reached by exactly one field.
func TestFieldsClassifyEveryTargetField(t *testing.T) {
	base := tgt("a", password("pw-base"))
	reached := map[string]string{}
	for _, l := range leaves(reflect.TypeFor[spec.Target](), "", nil) {
		if l.name == "Name" {
			continue // the key targets are matched by, not a setting
		}
		changed := base
		if !vary(reflect.ValueOf(&changed).Elem().FieldByIndex(l.index)) {
			t.Errorf("spec.Target.%s: this test cannot vary a field of this type; teach it", l.name)
			continue
		}
		_, cs := compare(&base, &changed)
		if len(cs) != 1 {
			t.Errorf("spec.Target.%s changed alone yields %d changes; give it a key in spec", l.name, len(cs))
			continue
		}
		if prev, ok := reached[cs[0].Path]; ok {
			t.Errorf("key %q reads both %s and %s", cs[0].Path, prev, l.name)
		}
		reached[cs[0].Path] = l.name
	}
	for _, f := range fields {
		if _, ok := reached[f.Path]; !ok {
			t.Errorf("key %q is reached by no field of spec.Target", f.Path)
		}
	}
}

// TestEffectsCoverEveryKey fails when spec gains a key that effects does not
// classify, or effects lists a key spec does not have.
func TestEffectsCoverEveryKey(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range spec.Keys() {
		if _, ok := effects[k.Path]; !ok {
			t.Errorf("key %q has no entry in effects (fields.go): say whether its change applies in place or needs a replace", k.Path)
		}
		if seen[k.Path] {
			t.Errorf("key %q listed twice", k.Path)
		}
		seen[k.Path] = true
	}
	for path := range effects {
		if !seen[path] {
			t.Errorf("effects lists %q, which is not a key of spec.Target", path)
		}
	}
}
