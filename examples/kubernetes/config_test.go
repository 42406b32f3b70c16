package kubernetes

import (
	"testing"

	"github.com/fleare-manager/fleare-manager/spec"
)

// The fleare configuration in each ConfigMap parses and validates with the
// project's own parser, listen section included (password files are not
// read: they live in the cluster's Secret). Every target has a listen
// section: apps reach the server through the manager only.
func TestConfigMapsParse(t *testing.T) {
	p := spec.Parser{ReadFile: func(string) ([]byte, error) { return []byte("from-the-secret"), nil }}
	for name, data := range configOf(t) {
		cfg, err := p.Parse(name+"/fleare.yaml", data)
		if err != nil {
			t.Errorf("ConfigMap %s: %v", name, err)
			continue
		}
		for _, tg := range cfg.Targets {
			if tg.Listen.Address == "" || tg.Listen.Users.Len() == 0 {
				t.Errorf("ConfigMap %s: target %s has no listen section with users", name, tg.Name)
			}
		}
	}
}
