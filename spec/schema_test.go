package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	jskind "github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the .errors files of examples/configs from Parse's output")

var (
	schemaPath  = filepath.Join("..", "schema.json")
	examplesDir = filepath.Join("..", "examples", "configs")
	// exampleEnv is the environment the examples are loaded with (see
	// examples/configs/README.md).
	exampleEnv = map[string]string{"FLEARE_PASSWORD": "example-password"}
)

func exampleParser() Parser {
	return Parser{LookupEnv: func(name string) (string, bool) {
		v, ok := exampleEnv[name]
		return v, ok
	}}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("compile schema.json: %v", err)
	}
	return sch
}

// yamlToJSON decodes YAML into the values a JSON decoder would produce, as
// an editor does before applying the schema.
func yamlToJSON(data []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	return jsonValue(v), nil
}

func jsonValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonValue(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonValue(e)
		}
	}
	return v
}

// schemaFaults returns the instance locations of the leaf errors in err,
// as JSON pointers ("/" for the root).
func schemaFaults(err error) []string {
	var locs []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		// The causes of a bad property name are located in the name, so a
		// propertyNames fault is reported at the object instead.
		if _, ok := e.ErrorKind.(*jskind.PropertyNames); ok {
			locs = append(locs, propertyNamesLocation(e))
			return
		}
		if len(e.Causes) == 0 {
			locs = append(locs, "/"+strings.Join(e.InstanceLocation, "/"))
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	if ve, ok := err.(*jsonschema.ValidationError); ok {
		walk(ve)
	}
	slices.Sort(locs)
	return slices.Compact(locs)
}

// propertyNamesLocation returns the instance location of a propertyNames
// fault. The library's InstanceLocation for it is unreliable (about one run in
// ten it names a sibling property, as if the slice were shared), so the
// location is read from the schema location instead: the keyword sits at
// .../properties/<name>/propertyNames, and every schema object on the way is a
// plain properties entry.
func propertyNamesLocation(e *jsonschema.ValidationError) string {
	_, frag, _ := strings.Cut(e.SchemaURL, "#")
	frag = strings.TrimSuffix(frag, "/propertyNames")
	return strings.ReplaceAll(frag, "/properties/", "/")
}

// schemaWant reads the "# schema:" line of an example.
func schemaWant(t *testing.T, data []byte) (verdict string, locs []string) {
	t.Helper()
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "# schema: ")
		if !ok {
			continue
		}
		verdict, list, _ := strings.Cut(rest, " ")
		if verdict == "rejects" {
			for p := range strings.SplitSeq(list, ",") {
				locs = append(locs, strings.TrimSpace(p))
			}
			slices.Sort(locs)
		}
		return verdict, locs
	}
	t.Fatal(`no "# schema:" line`)
	return "", nil
}

func TestExamples(t *testing.T) {
	sch := compileSchema(t)
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v, %v", files, err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte("# yaml-language-server: $schema=../../schema.json\n")) {
				t.Error("the first line does not point yaml-language-server at schema.json")
			}
			if strings.HasPrefix(name, "bad-") {
				checkBadExample(t, sch, path, data)
				return
			}
			if _, err := exampleParser().Parse(path, data); err != nil {
				t.Errorf("Parse:\n%v", err)
			}
			v, err := yamlToJSON(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(v); err != nil {
				t.Errorf("schema rejects a good example:\n%v", err)
			}
		})
	}
}

func checkBadExample(t *testing.T, sch *jsonschema.Schema, path string, data []byte) {
	_, err := exampleParser().Parse(path, data)
	if err == nil {
		t.Fatal("Parse accepts a bad example")
	}
	got := strings.ReplaceAll(err.Error(), examplesDir+string(filepath.Separator), "") + "\n"
	golden := strings.TrimSuffix(path, ".yaml") + ".errors"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("Parse errors differ from %s:\ngot:\n%swant:\n%s", filepath.Base(golden), got, want)
	}

	verdict, wantLocs := schemaWant(t, data)
	v, convErr := yamlToJSON(data)
	switch verdict {
	case "no-json":
		if convErr == nil {
			t.Error(`marked "no-json" but converts to JSON`)
		}
		return
	case "rejects", "accepts":
	default:
		t.Fatalf("unknown schema verdict %q", verdict)
	}
	if convErr != nil {
		t.Fatalf("YAML to JSON: %v", convErr)
	}
	serr := sch.Validate(v)
	if verdict == "accepts" {
		if serr != nil {
			t.Errorf("schema rejects an example marked accepts:\n%v", serr)
		}
		return
	}
	if serr == nil {
		t.Fatal("schema accepts a bad example")
	}
	if locs := schemaFaults(serr); !slices.Equal(locs, wantLocs) {
		t.Errorf("schema faults at %v, want %v:\n%v", locs, wantLocs, serr)
	}
}

// schemaKeys returns the key paths the schema allows under an object
// schema, following $refs into definitions.
func schemaKeys(t *testing.T, defs map[string]any, node map[string]any, prefix string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	props, _ := node["properties"].(map[string]any)
	if node["additionalProperties"] != false {
		t.Errorf("schema object %q does not set additionalProperties: false", prefix)
	}
	for k, p := range props {
		prop := resolveRef(t, defs, p.(map[string]any))
		if prop["type"] == "object" {
			for sub, s := range schemaKeys(t, defs, prop, prefix+k+".") {
				out[sub] = s
			}
			continue
		}
		out[prefix+k] = prop
	}
	return out
}

func resolveRef(t *testing.T, defs map[string]any, node map[string]any) map[string]any {
	t.Helper()
	ref, ok := node["$ref"].(string)
	if !ok {
		return node
	}
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	def, found := defs[name].(map[string]any)
	if !ok || !found {
		t.Fatalf("unresolvable $ref %q", ref)
	}
	return def
}

// tableKeys returns the leaf key paths of fields, as the parser accepts them.
func tableKeys(fields []field, prefix string, inDefaults bool) map[string]*field {
	out := map[string]*field{}
	for i := range fields {
		f := &fields[i]
		switch {
		case inDefaults && f.targetOnly:
		case f.kind == kindMap:
			for k, v := range tableKeys(f.children, prefix+f.key+".", inDefaults) {
				out[k] = v
			}
		default:
			out[prefix+f.key] = f
		}
	}
	return out
}

func readSchemaJSON(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestSchemaMatchesParser fails when a key, bound or default exists in the
// parser's field table but not in schema.json, or the other way round.
func TestSchemaMatchesParser(t *testing.T) {
	root := readSchemaJSON(t)
	defs := root["definitions"].(map[string]any)
	top := slices.Sorted(mapsKeys(root["properties"].(map[string]any)))
	if want := slices.Sorted(slices.Values(topKeys)); !slices.Equal(top, want) {
		t.Errorf("schema top-level keys %v, parser %v", top, want)
	}
	if root["additionalProperties"] != false {
		t.Error("top level does not set additionalProperties: false")
	}
	// Built-in defaults, as the parser applies them.
	builtin := mustParse(t, "version: 1\ntargets:\n  a: {host: h}\n", nil, nil).Targets[0]
	// The listen section's defaults apply once a target has one.
	builtin.Listen = mustParse(t, "version: 1\ntargets:\n  a: {host: h, listen: {address: ':0', users: [{username: u, password: p}]}}\n", nil, nil).Targets[0].Listen
	for _, section := range []struct {
		def        string
		inDefaults bool
	}{{"target", false}, {"defaults", true}} {
		inSchema := schemaKeys(t, defs, defs[section.def].(map[string]any), "")
		inTable := tableKeys(targetFields, "", section.inDefaults)
		if a, b := slices.Sorted(mapsKeys(inSchema)), slices.Sorted(mapsKeys(inTable)); !slices.Equal(a, b) {
			t.Errorf("%s keys: schema.json has %v, the parser %v", section.def, a, b)
		}
		for path, f := range inTable {
			if s, ok := inSchema[path]; ok {
				checkLeaf(t, defs, path, s, f, builtin)
			}
		}
	}
}

// checkLeaf compares a schema property with the parser's field: bounds and
// the default the parser applies.
func checkLeaf(t *testing.T, defs map[string]any, path string, s map[string]any, f *field, builtin Target) {
	t.Helper()
	if s["description"] == nil || s["title"] == nil {
		t.Errorf("%s: no title or description in schema.json", path)
	}
	var want any
	switch v := f.ref(&builtin).(type) {
	case *time.Duration:
		want = v.String()
	case *int:
		want = float64(*v)
	case *string:
		want = *v
	case *Secret:
		want = v.Reveal()
	case *Users:
		want = nil
	}
	if f.kind == kindPath || f.kind == kindUsers || f.slot == slotHost || f.slot == slotListenAddress {
		want = nil // no default
	}
	if got := s["default"]; got != want {
		t.Errorf("%s: schema default %v, parser default %v", path, got, want)
	}
	if f.kind != kindInt {
		return
	}
	var bounds map[string]any
	for _, alt := range s["anyOf"].([]any) {
		if a := alt.(map[string]any); a["type"] == "integer" {
			bounds = a
		}
	}
	if bounds == nil || bounds["minimum"] != float64(f.min) || bounds["maximum"] != float64(f.max) {
		t.Errorf("%s: schema bounds %v, parser %d-%d", path, bounds, f.min, f.max)
	}
}

// TestFieldTableCoversTarget fails when a field of Target (Name aside, which
// is the key in targets) is not filled by exactly one key of the table.
func TestFieldTableCoversTarget(t *testing.T) {
	var tg Target
	covered := map[any]string{} // field address → key
	for path, f := range tableKeys(targetFields, "", false) {
		p := f.ref(&tg)
		if prev, ok := covered[p]; ok {
			t.Errorf("keys %s and %s fill the same field", prev, path)
		}
		covered[p] = path
	}
	var walk func(v reflect.Value, name string)
	walk = func(v reflect.Value, name string) {
		for i := range v.NumField() {
			sf, fv := v.Type().Field(i), v.Field(i)
			full := name + sf.Name
			switch {
			case full == "Name":
			case fv.Kind() == reflect.Struct && sf.Type != reflect.TypeFor[Secret]() && sf.Type != reflect.TypeFor[Users]():
				walk(fv, full+".")
			default:
				p := fv.Addr().Interface()
				if _, ok := covered[p]; !ok {
					t.Errorf("Target.%s is filled by no key of the table", full)
				}
				delete(covered, p)
			}
		}
	}
	walk(reflect.ValueOf(&tg).Elem(), "")
	for _, path := range covered {
		t.Errorf("key %s fills no field of Target", path)
	}
}

func TestMarshalMatchesSchema(t *testing.T) {
	sch := compileSchema(t)
	for _, name := range []string{"multi-target.yaml", "proxy.yaml"} {
		cfg, err := exampleParser().Load(filepath.Join(examplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		out, err := Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		v, err := yamlToJSON(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s: schema rejects Marshal's output:\n%v\n%s", name, err, out)
		}
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
