package spec

import (
	"bytes"
	"strconv"
	"strings"

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

// targetNode renders the settings of t.
func targetNode(t *Target) *yaml.Node {
	n := mapping(str("host"), str(escapeDollar(t.Host)), str("port"), integer(t.Port))
	if t.Username != "" {
		n.Content = append(n.Content, str("username"), str(escapeDollar(t.Username)))
	}
	if !t.Password.IsZero() {
		n.Content = append(n.Content, str("password"), str(t.Password.String()))
	}
	if t.PasswordFile != "" {
		n.Content = append(n.Content, str("password_file"), str(escapeDollar(t.PasswordFile)))
	}
	n.Content = append(n.Content,
		str("pool"), mapping(str("size"), integer(t.Pool.Size), str("max_queue"), integer(t.Pool.MaxQueue),
			str("pipeline"), integer(t.Pool.Pipeline)),
		str("timeouts"), mapping(
			str("connect"), str(t.Timeouts.Connect.String()),
			str("request"), str(t.Timeouts.Request.String()),
			str("drain"), str(t.Timeouts.Drain.String())),
		str("retry"), mapping(
			str("max_retries"), integer(t.Retry.MaxRetries),
			str("interval"), str(t.Retry.Interval.String())),
	)
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
