// Package kubernetes checks the example Kubernetes manifests and the
// repository's Dockerfile offline: every manifest decodes strictly into its
// typed Kubernetes object (an unknown or misplaced field fails), the pods
// keep the security invariants, secrets are mounted as files and never put
// in the pod spec, the configuration comes from the ConfigMap, and the
// fleare configuration inside it parses with the project's own parser.
//
// It is a module of its own, so that the Kubernetes and BuildKit modules
// it needs stay out of the main module's dependencies.
package kubernetes

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// objects are the decoded documents of every manifest, by kind.
type objects struct {
	configMaps  map[string]*corev1.ConfigMap
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
}

// documents splits a YAML stream at its "---" lines, dropping empty
// documents (comments only).
func documents(data []byte) [][]byte {
	var out [][]byte
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		var probe map[string]any
		if yaml.Unmarshal([]byte(doc), &probe) == nil && len(probe) > 0 {
			out = append(out, []byte(doc))
		}
	}
	return out
}

// load decodes every document of every *.yaml file here strictly into its
// typed object.
func load(t *testing.T) objects {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	objs := objects{map[string]*corev1.ConfigMap{}, map[string]*appsv1.Deployment{}, map[string]*corev1.Service{}}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range documents(data) {
			if err := decode(doc, objs); err != nil {
				t.Errorf("%s, document %d: %v", file, i+1, err)
			}
		}
	}
	return objs
}

// decode strictly decodes one document into the object its kind names.
func decode(doc []byte, objs objects) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var name string
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		if err := yaml.UnmarshalStrict(doc, o); err != nil {
			return err
		}
		name, objs.configMaps[o.Name] = o.Name, o
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		if err := yaml.UnmarshalStrict(doc, o); err != nil {
			return err
		}
		name, objs.deployments[o.Name] = o.Name, o
	case "v1 Service":
		o := &corev1.Service{}
		if err := yaml.UnmarshalStrict(doc, o); err != nil {
			return err
		}
		name, objs.services[o.Name] = o.Name, o
	default:
		return errors.New("unexpected kind " + tm.APIVersion + " " + tm.Kind + ": teach this test its checks")
	}
	if name == "" {
		return errors.New(tm.Kind + " without a name")
	}
	return nil
}

// Strict decoding is strict: a misspelt field fails.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	doc := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndatta: {a: b}\n")
	if err := decode(doc, objects{map[string]*corev1.ConfigMap{}, nil, nil}); err == nil {
		t.Fatal("a ConfigMap with an unknown field decoded")
	}
}

func TestManifestsDecode(t *testing.T) {
	objs := load(t)
	if len(objs.deployments) != 2 || len(objs.configMaps) != 2 || len(objs.services) != 1 {
		t.Fatalf("want the proxy and the sidecar deployments, their ConfigMaps and the proxy's Service; got %d, %d, %d",
			len(objs.deployments), len(objs.configMaps), len(objs.services))
	}
	for _, svc := range objs.services {
		d := objs.deployments[svc.Name]
		if d == nil {
			t.Errorf("service %s selects no deployment of its name", svc.Name)
			continue
		}
		for k, v := range svc.Spec.Selector {
			if d.Spec.Template.Labels[k] != v {
				t.Errorf("service %s selects %s=%s, which the pods do not carry", svc.Name, k, v)
			}
		}
		ports := containerPorts(managerContainer(t, d))
		for _, p := range svc.Spec.Ports {
			if !ports[p.TargetPort.String()] {
				t.Errorf("service %s targets port %s, which the manager does not name", svc.Name, p.TargetPort.String())
			}
		}
	}
}

// managerContainer returns the pod's fleare-manager container: a container
// or a (sidecar) init container running flearectl serve.
func managerContainer(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	spec := &d.Spec.Template.Spec
	for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range list {
			if len(list[i].Args) > 0 && list[i].Args[0] == "serve" {
				return &list[i]
			}
		}
	}
	t.Fatalf("deployment %s runs no flearectl serve", d.Name)
	return nil
}

func containerPorts(c *corev1.Container) map[string]bool {
	out := map[string]bool{}
	for _, p := range c.Ports {
		out[p.Name] = true
	}
	return out
}

// Every pod runs as a non-root user, with no privilege escalation, no
// capability, a read-only root file system and a writable /tmp (for the
// admin socket), and resource limits.
func TestPodsAreLockedDown(t *testing.T) {
	for _, d := range load(t).deployments {
		spec := d.Spec.Template.Spec
		psc := spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: the pod does not run as a non-root user: %+v", d.Name, psc)
		}
		if psc != nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			t.Errorf("%s: no RuntimeDefault seccomp profile", d.Name)
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it does not use", d.Name)
		}
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Errorf("%s/%s: no security context", d.Name, c.Name)
				continue
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Errorf("%s/%s: privilege escalation allowed", d.Name, c.Name)
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Errorf("%s/%s: the root file system is writable", d.Name, c.Name)
			case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
				t.Errorf("%s/%s: capabilities not all dropped: %+v", d.Name, c.Name, sc.Capabilities)
			case sc.Privileged != nil && *sc.Privileged:
				t.Errorf("%s/%s: privileged", d.Name, c.Name)
			}
			if c.Resources.Limits.Memory().IsZero() {
				t.Errorf("%s/%s: no memory limit", d.Name, c.Name)
			}
		}
		m := managerContainer(t, d)
		if v := volumeAt(t, d, m, "/tmp"); v == nil || v.EmptyDir == nil {
			t.Errorf("%s: the manager has no writable /tmp (an emptyDir) for its admin socket", d.Name)
		}
		if m.ReadinessProbe == nil || m.LivenessProbe == nil {
			t.Errorf("%s: the manager lacks a readiness or liveness probe", d.Name)
		}
		if m.Image != "fleare-manager:dev" {
			t.Errorf("%s: the manager's image is %q, not the one the Dockerfile builds (see README.md)", d.Name, m.Image)
		}
	}
}

// volumeAt returns the volume c mounts at path, nil if none.
func volumeAt(t *testing.T, d *appsv1.Deployment, c *corev1.Container, path string) *corev1.Volume {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path {
			continue
		}
		for i, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name {
				return &d.Spec.Template.Spec.Volumes[i]
			}
		}
		t.Errorf("%s/%s mounts %q, which is not a volume of the pod", d.Name, c.Name, vm.Name)
	}
	return nil
}

// secretWords name what must never be written in a pod spec.
var secretWords = regexp.MustCompile(`(?i)password|token|secret`)

// Secrets are mounted from a Secret as files, never written in the pod
// spec nor passed as environment variables; the manager's configuration
// is read from the ConfigMap; every file the configuration, the flags and
// the probes name lies in a mounted volume of the right kind.
func TestSecretsMountedAndConfigFromConfigMap(t *testing.T) {
	objs := load(t)
	for _, d := range objs.deployments {
		spec := d.Spec.Template.Spec
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					t.Errorf("%s/%s: env %s takes a secret as a variable; mount it as a file", d.Name, c.Name, e.Name)
				}
				if secretWords.MatchString(e.Name) && !strings.HasPrefix(e.Value, "/") {
					t.Errorf("%s/%s: env %s holds a secret inline; name a file instead", d.Name, c.Name, e.Name)
				}
			}
		}
		m := managerContainer(t, d)
		file := flagValue(m.Args, "-f")
		cfgVol := volumeAt(t, d, m, filepath.Dir(file))
		if cfgVol == nil || cfgVol.ConfigMap == nil {
			t.Errorf("%s: the configuration %s is not in a ConfigMap volume", d.Name, file)
			continue
		}
		cm := objs.configMaps[cfgVol.ConfigMap.Name]
		if cm == nil || cm.Data[filepath.Base(file)] == "" {
			t.Errorf("%s: the ConfigMap %s has no %s", d.Name, cfgVol.ConfigMap.Name, filepath.Base(file))
			continue
		}
		var paths []string
		for _, p := range regexp.MustCompile(`password_file:\s*(\S+?)[,}\s]`).FindAllStringSubmatch(cm.Data[filepath.Base(file)]+"\n", -1) {
			paths = append(paths, p[1])
		}
		if len(paths) == 0 || strings.Contains(cm.Data[filepath.Base(file)], "password:") {
			t.Errorf("%s: the configuration takes no password from a file, or writes one inline", d.Name)
		}
		paths = append(paths, flagValue(m.Args, "--token-file"))
		for _, probe := range []*corev1.Probe{m.StartupProbe, m.ReadinessProbe, m.LivenessProbe} {
			if probe != nil && probe.Exec != nil {
				if v := flagValue(probe.Exec.Command, "--token-file"); v != "" {
					paths = append(paths, v)
				}
			}
		}
		for _, p := range paths {
			if v := volumeAt(t, d, m, filepath.Dir(p)); v == nil || v.Secret == nil {
				t.Errorf("%s: %s is not in a Secret volume", d.Name, p)
			}
		}
	}
}

// flagValue returns the value of flag in args, given as "flag value" or
// "flag=value"; "" if absent.
func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// configOf returns the fleare configuration of every ConfigMap, by name.
func configOf(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, cm := range load(t).configMaps {
		out[name] = bytes.TrimSpace([]byte(cm.Data["fleare.yaml"]))
	}
	return out
}
