package spec

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Marshal renders cfg in the configuration file format, for showing the
// configuration in effect: every target with every setting explicit (so no
// defaults section), durations in Go syntax, a literal $ written as $$, and
// each password shown as Mask. Parsing the result gives cfg back, except that
// a password reads as the literal text of Mask.
func Marshal(cfg *Config) ([]byte, error) {
	targets := &yaml.Node{Kind: yaml.MappingNode}
	for _, t := range cfg.Targets {
		targets.Content = append(targets.Content, str(t.Name), targetNode(&t))
	}
	root := mapping(str("version"), integer(cfg.Version), str("targets"), targets)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// targetNode renders the settings of t: every key of the field table, but
// strings left empty (username, password, password_file).
func targetNode(t *Target) *yaml.Node { return fieldsNode(targetFields, t) }

func fieldsNode(fields []field, t *Target) *yaml.Node {
	n := mapping()
	for i := range fields {
		f := &fields[i]
		if f.kind == kindMap {
			if f.key == listenField.key && t.Listen.Address == "" {
				continue // no listen section
			}
			n.Content = append(n.Content, str(f.key), fieldsNode(f.children, t))
			continue
		}
		var v *yaml.Node
		switch p := f.ref(t).(type) {
		case *string:
			if *p != "" {
				v = str(escapeDollar(*p))
			}
		case *Secret:
			if !p.IsZero() {
				v = str(p.String())
			}
		case *Users:
			v = usersNode(*p)
		case *int:
			v = integer(*p)
		case *time.Duration:
			v = str(p.String())
		}
		if v != nil {
			n.Content = append(n.Content, str(f.key), v)
		}
	}
	return n
}

// mapping builds a mapping node from alternating key and value nodes.
func mapping(kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: kv}
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func integer(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
}

// escapeDollar writes each $ of s as $$, so that parsing gives s back.
func escapeDollar(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// usersNode renders listen.users: each user's name and password_file, or
// its password as Mask.
func usersNode(us Users) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, u := range us.All() {
		m := mapping(str("username"), str(escapeDollar(u.Username)))
		if u.PasswordFile != "" {
			m.Content = append(m.Content, str("password_file"), str(escapeDollar(u.PasswordFile)))
		} else {
			m.Content = append(m.Content, str("password"), str(u.Password.String()))
		}
		n.Content = append(n.Content, m)
	}
	return n
}
