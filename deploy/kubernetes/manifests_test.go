// Package kubernetes holds Argus's Kubernetes manifests and checks them:
// every document decodes strictly into the Kubernetes API types (an
// unknown or misspelt field is an error, as the API server's strict field
// validation would report), the objects fit together (selectors, names,
// ports, probes, grace period), and the ConfigMap's argus.hcl is a valid
// Argus configuration.
//
// It is a module of its own so k8s.io/api and sigs.k8s.io/yaml stay out of
// Argus's go.mod; `make test` runs it.
package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/argusmcp/argus/host/config/configload"
)

// kinds are the object types the manifests may hold, by apiVersion/kind.
var kinds = map[string]func() any{
	"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                     func() any { return &corev1.Secret{} },
	"v1/Service":                    func() any { return &corev1.Service{} },
	"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode decodes every YAML document of one file strictly into its API
// type.
func decode(name string, data []byte) ([]any, error) {
	var objs []any
	for i, doc := range docSeparator.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("%s document %d: %w", name, i+1, err)
		}
		newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			return nil, fmt.Errorf("%s document %d: apiVersion %q kind %q is not one the manifests may use", name, i+1, tm.APIVersion, tm.Kind)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return nil, fmt.Errorf("%s document %d (%s): %w", name, i+1, tm.Kind, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// manifests are the decoded objects of every *.yaml file here.
type manifests struct {
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	services    map[string]*corev1.Service
	deployments map[string]*appsv1.Deployment
	pdbs        map[string]*policyv1.PodDisruptionBudget
}

func load(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	m := manifests{map[string]*corev1.ConfigMap{}, map[string]*corev1.Secret{}, map[string]*corev1.Service{},
		map[string]*appsv1.Deployment{}, map[string]*policyv1.PodDisruptionBudget{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decode(f, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			switch o := o.(type) {
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			case *corev1.Secret:
				m.secrets[o.Name] = o
			case *corev1.Service:
				m.services[o.Name] = o
			case *appsv1.Deployment:
				m.deployments[o.Name] = o
			case *policyv1.PodDisruptionBudget:
				m.pdbs[o.Name] = o
			}
		}
	}
	return m
}

// TestManifestsDecodeStrictly: every document is a known kind and decodes
// with no unknown field; the set is complete.
func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	if len(m.deployments) != 1 || len(m.configMaps) != 1 || len(m.secrets) != 1 || len(m.pdbs) != 1 || len(m.services) != 2 {
		t.Errorf("manifests hold %d Deployments, %d ConfigMaps, %d Secrets, %d PodDisruptionBudgets, %d Services; want 1, 1, 1, 1, 2",
			len(m.deployments), len(m.configMaps), len(m.secrets), len(m.pdbs), len(m.services))
	}
}

// TestStrictDecodingCatchesTypos: the decoding the test relies on refuses
// a misspelt field, a wrong type, a duplicated key and an unknown kind.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	orig, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decode("deployment.yaml", orig); err != nil {
		t.Fatalf("the unchanged manifest fails: %v", err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"misspelt field", "readinessProbe:", "readinesProbe:", "unknown field"},
		{"field at the wrong level", "      automountServiceAccountToken: false", "      automountServiceAccountToken: false\n      replicas: 2", "unknown field"},
		{"wrong type", "replicas: 3", "replicas: three", "cannot unmarshal"},
		{"duplicated key", "  replicas: 3", "  replicas: 3\n  replicas: 4", "already set"},
		{"unknown kind", "kind: Deployment", "kind: Deploymnet", "not one the manifests may use"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !bytes.Contains(orig, []byte(c.old)) {
				t.Fatalf("deployment.yaml has no %q to change", c.old)
			}
			_, err := decode("deployment.yaml", bytes.Replace(orig, []byte(c.old), []byte(c.new), 1))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("decode = %v, want an error with %q", err, c.want)
			}
		})
	}
}

// TestManifestsFitTogether: names, selectors, ports, probes and security
// settings agree across the objects and with the image.
func TestManifestsFitTogether(t *testing.T) {
	m := load(t)
	d := m.deployments["argus"]
	if d == nil {
		t.Fatal("no Deployment argus")
	}
	pod := d.Spec.Template
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("the Deployment's selector %v does not select its pods %v", d.Spec.Selector, pod.Labels)
	}
	for name, s := range m.services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) || len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s selects %v, not the pods %v", name, s.Spec.Selector, pod.Labels)
		}
	}
	for name, p := range m.pdbs {
		ps, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || !ps.Matches(labels.Set(pod.Labels)) {
			t.Errorf("PodDisruptionBudget %s does not select the pods", name)
		}
		if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
			t.Errorf("PodDisruptionBudget %s sets no budget", name)
		}
	}
	if s := m.services["argus"]; s == nil || s.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		t.Errorf("Service argus should pin clients (sessionAffinity ClientIP) for stateful sessions")
	}
	if s := m.services["argus-pods"]; s == nil || s.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service argus-pods should be headless")
	}

	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, s := range m.services {
		for _, p := range s.Spec.Ports {
			if _, ok := ports[p.TargetPort.String()]; !ok && int(p.TargetPort.IntVal) == 0 {
				t.Errorf("Service %s targets port %q, which the container does not name", name, p.TargetPort.String())
			}
		}
	}
	probes := map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe}
	wantPath := map[string]string{"readiness": "/manage/v1/ready", "liveness": "/manage/v1/health", "startup": "/manage/v1/health"}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no %s probe over HTTP", kind)
			continue
		}
		if p.HTTPGet.Path != wantPath[kind] {
			t.Errorf("%s probe path %q, want %q", kind, p.HTTPGet.Path, wantPath[kind])
		}
		if _, ok := ports[p.HTTPGet.Port.String()]; !ok {
			t.Errorf("%s probe port %q is not a named container port", kind, p.HTTPGet.Port.String())
		}
	}

	// Security: the image's non-root user, nothing writable but volumes.
	psc, sc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and runAsUser 65532 (the image's user)", psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container securityContext %+v: want a read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("container requests %v: want cpu and memory", c.Resources.Requests)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		if _, ok := volumes[vm.Name]; !ok {
			t.Errorf("mount %s names no volume", vm.Name)
		}
		mounts[vm.MountPath] = vm
	}
	for _, path := range []string{"/etc/argus/argus.hcl", "/tmp", "/var/lib/argus"} {
		if _, ok := mounts[path]; !ok {
			t.Errorf("nothing mounted at %s (the image's configuration, plugin sockets, audit state)", path)
		}
	}

	// The configuration comes from the ConfigMap, the token from the Secret.
	cfgMount := mounts["/etc/argus/argus.hcl"]
	cmName := volumes[cfgMount.Name].ConfigMap
	if cmName == nil || m.configMaps[cmName.Name] == nil {
		t.Fatalf("the configuration volume is not a ConfigMap of the manifests: %+v", volumes[cfgMount.Name])
	}
	hcl, ok := m.configMaps[cmName.Name].Data[cfgMount.SubPath]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %q", cmName.Name, cfgMount.SubPath)
	}
	var token string
	for _, e := range c.Env {
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		s := m.secrets[ref.Name]
		if s == nil {
			t.Errorf("env %s refers to Secret %s, not in the manifests", e.Name, ref.Name)
			continue
		}
		v, ok := s.StringData[ref.Key]
		if !ok {
			t.Errorf("Secret %s has no key %s", ref.Name, ref.Key)
		}
		if e.Name == "ARGUS_MGMT_TOKEN" {
			token = v
		}
	}

	// The ConfigMap's argus.hcl is a valid configuration that listens on
	// the container's port and writes audit into the volume.
	t.Setenv("ARGUS_MGMT_TOKEN", token)
	cfg, diags := configload.NewParser().Load([]byte(hcl), "argus.hcl")
	if diags.HasErrors() {
		t.Fatalf("the ConfigMap's argus.hcl: %v", diags)
	}
	if _, port, _ := strings.Cut(cfg.Server.Listen, ":"); port != strconv.Itoa(int(ports["http"])) {
		t.Errorf("argus.hcl listens on %s; the container port is %d", cfg.Server.Listen, ports["http"])
	}
	if !strings.HasPrefix(cfg.Server.Listen, "0.0.0.0:") && !strings.HasPrefix(cfg.Server.Listen, ":") {
		t.Errorf("argus.hcl listens on %s: the kubelet and the Service reach the pod's address, not loopback", cfg.Server.Listen)
	}
	if !strings.Contains(hcl, `"/var/lib/argus/`) {
		t.Errorf("argus.hcl writes no audit under /var/lib/argus, the mounted volume")
	}

	// Termination: preStop, then any drain and the shutdown timeout, all
	// within the grace period.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep (endpoints need a moment to drop the pod before SIGTERM)")
	}
	need := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second + cfg.Server.DrainTimeout + cfg.Server.ShutdownTimeout + 5*time.Second
	grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	if grace < need {
		t.Errorf("terminationGracePeriodSeconds %v < preStop + drain + shutdown_timeout + 5s = %v", grace, need)
	}
	if d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling updates should keep every replica until its successor is ready (maxUnavailable 0)")
	}
}
