package spec

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/fleare-manager/fleare-manager/internal/safefile"
)

// MaxConfigSize is the largest configuration file Load reads, and the
// largest a manager watching a file reads: 16 MiB.
const MaxConfigSize = 16 << 20

// MaxTargets bounds the targets of one configuration: 10,000, far above
// any real deployment (each target is a connection pool of its own), and
// low enough that no configuration makes a plan, a status or a reply of
// unbounded size.
const MaxTargets = 10_000

// Parser turns configuration files into a Config. Its zero value reads the
// process environment and the file system, and trusts the file: a
// configuration from a less trusted source (the admin API) is parsed with
// AllowVar and SecretDirs set.
type Parser struct {
	// LookupEnv looks up the variables that ${NAME} references. Default:
	// os.LookupEnv.
	LookupEnv func(name string) (string, bool)
	// ReadFile reads a password_file, which Parse checks is readable and
	// not empty. Default: safefile.ReadFile, which reads regular files
	// only and refuses any larger than MaxPasswordFileSize.
	ReadFile func(path string) ([]byte, error)
	// AllowVar, when set, says which variables ${NAME} may reference: a
	// reference to a name it refuses is a problem, and the variable is not
	// looked up (${NAME:-default} included). Default nil: every variable.
	AllowVar func(name string) bool
	// SecretDirs, when not nil, are the only directories a password_file
	// may be in: its path, every symbolic link resolved, must lie inside
	// one of them (resolved the same way); any other is a problem, and is
	// not read. An empty, non-nil slice allows no password_file at all.
	// Default nil: any path.
	SecretDirs []string
	// PolicyHint, when set, ends the problems that AllowVar and SecretDirs
	// cause, saying how to have a variable or a directory allowed.
	// Default "".
	PolicyHint string
}

// Load reads and parses the configuration file at path, with the process
// environment and the file system. See Parser.Parse.
func Load(path string) (*Config, error) { return Parser{}.Load(path) }

// Parse parses a configuration read from the file called name, with the
// process environment and the file system. See Parser.Parse.
func Parse(name string, data []byte) (*Config, error) { return Parser{}.Parse(name, data) }

// Load reads and parses the configuration file at path. An error reading it
// is returned wrapped, not as an *Error.
func (p Parser) Load(path string) (*Config, error) {
	data, err := safefile.ReadFile(path, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("spec: read config: %w", err)
	}
	return p.Parse(path, data)
}

// Parse parses a configuration read from the file called name. name appears
// in errors, and a relative password_file is resolved against its directory.
//
// It returns the resolved Config (defaults applied, variables expanded,
// password_file paths made absolute and checked), or an error holding every
// problem found, each an *Error (see Errors), sorted by position.
func (p Parser) Parse(name string, data []byte) (*Config, error) {
	d := &decoder{
		problems:   problems{file: name},
		lookupEnv:  p.LookupEnv,
		allowVar:   p.AllowVar,
		readFile:   p.ReadFile,
		secretDirs: resolveDirs(p.SecretDirs),
		policyHint: p.PolicyHint,
		dir:        filepath.Dir(name),
	}
	if d.lookupEnv == nil {
		d.lookupEnv = os.LookupEnv
	}
	if d.readFile == nil {
		d.readFile = func(path string) ([]byte, error) { return safefile.ReadFile(path, MaxPasswordFileSize) }
	}
	if abs, err := filepath.Abs(d.dir); err == nil {
		d.dir = abs
	}
	var cfg *Config
	if root := d.document(data); root != nil {
		cfg = d.config(root)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decoder walks the YAML node tree of one file.
type decoder struct {
	problems
	lookupEnv  func(string) (string, bool)
	allowVar   func(string) bool // nil: every variable
	readFile   func(string) ([]byte, error)
	secretDirs []string          // nil: any password_file; else resolved directories
	policyHint string            // Parser.PolicyHint
	dir        string            // directory of the file, for relative paths
	checked    map[string]string // password_file path -> problem ("" if none)
	// defaultsCreds is set once a problem with the credentials in defaults
	// has been reported, so that it is not repeated for every target.
	defaultsCreds bool
}

// start is the position reported for problems with the file as a whole.
var start = &yaml.Node{Line: 1, Column: 1}

// document parses data and returns its root node, or nil after recording
// why there is none.
func (d *decoder) document(data []byte) *yaml.Node {
	if off, msg := badText(data); msg != "" {
		line, col := position(data, off)
		d.add(&yaml.Node{Line: line, Column: col}, scope{}, "", "%s", msg)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(start, scope{}, "", "the file is empty (a configuration needs version: 1 and targets)")
		} else {
			d.syntax(err, data)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntax(err, data)
	default:
		d.add(&extra, scope{}, "", "a second YAML document (a configuration is a single document)")
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		d.add(start, scope{}, "", "the file is empty (a configuration needs version: 1 and targets)")
		return nil
	}
	return doc.Content[0]
}

// config decodes the top-level mapping.
func (d *decoder) config(root *yaml.Node) *Config {
	if !d.mapping(root, scope{}, "", "the top level must be a mapping of version, defaults and targets") {
		return nil
	}
	var version, defaults, targets *yaml.Node
	for k, v := range d.pairs(root, scope{}) {
		var slot **yaml.Node
		switch k.Value {
		case "version":
			slot = &version
		case "defaults":
			slot = &defaults
		case "targets":
			slot = &targets
		default:
			d.unknownTop(k)
			continue
		}
		if *slot != nil {
			d.add(k, scope{}, k.Value, "duplicate key (first at line %d)", (*slot).Line)
			continue
		}
		*slot = v
	}
	cfg := &Config{Version: Version}
	d.version(version, root)
	var def layer
	if defaults != nil {
		d.layer(defaults, targetFields, scope{defaults: true}, &def)
		d.credentials(&def, scope{defaults: true})
	}
	if targets == nil {
		d.add(root, scope{}, "targets", "missing (write targets: {} for a configuration with no targets)")
		return cfg
	}
	cfg.Targets = d.targets(targets, &def)
	return cfg
}

// unknownTop records an unknown top-level key.
func (d *decoder) unknownTop(k *yaml.Node) {
	msg := "unknown key (allowed: version, defaults, targets)"
	if s := suggestTop(k.Value); s != "" {
		msg = "unknown key; " + s + " (allowed: version, defaults, targets)"
	}
	d.add(k, scope{}, k.Value, "%s", msg)
}

// version checks the version key, v, which is nil when missing from the
// mapping root.
func (d *decoder) version(v, root *yaml.Node) {
	if v == nil {
		d.add(root, scope{}, "version", "missing (write version: %d at the top of the file)", Version)
		return
	}
	f := &field{key: "version", kind: kindInt, min: Version, max: Version}
	text, ok := d.scalar(v, f, scope{})
	if !ok {
		return
	}
	n, err := parseDecimal(text)
	if err == nil && n == Version {
		return
	}
	q := quoteShort(text)
	if err == nil {
		q = strconv.FormatInt(n, 10)
	}
	d.add(v, scope{}, "version", "%s is not supported (this release reads version %d)", say(masked(v), q), Version)
}

// targets decodes the targets mapping and resolves each target against the
// defaults layer def.
func (d *decoder) targets(n *yaml.Node, def *layer) []Target {
	if !d.mapping(n, scope{}, "targets", "must be a mapping from target name to its settings (write targets: {} for none)") {
		return nil
	}
	if count := len(n.Content) / 2; count > MaxTargets {
		d.add(n, scope{}, "targets", "%d targets; a configuration holds at most %d", count, MaxTargets)
		return nil
	}
	out := make([]Target, 0, len(n.Content)/2)
	seen := make(map[string]int, len(n.Content)/2)
	var listens []listenAt
	for k, v := range d.pairs(n, scope{}) {
		name := k.Value
		sc := scope{target: name}
		if first, dup := seen[name]; dup {
			d.add(k, sc, "", "duplicate target name (first at line %d)", first)
			continue
		}
		seen[name] = k.Line
		if msg := nameProblem(name); msg != "" {
			d.add(k, sc, "", "%s", msg)
		}
		var own layer
		if !d.layer(v, targetFields, sc, &own) {
			continue
		}
		d.credentials(&own, sc)
		t := d.resolve(name, k, def, &own)
		if t.Listen.Address != "" {
			listens = append(listens, listenAt{target: name, addr: t.Listen.Address, node: own[slotListenAddress].node})
		}
		out = append(out, t)
	}
	d.checkListenClashes(listens)
	slices.SortFunc(out, func(a, b Target) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
