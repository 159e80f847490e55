package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/yaml"

	"istio.io/istio/pkg/config/mesh"
)

// SystemNamespace is where `istioctl install` puts istiod and its ConfigMaps.
const SystemNamespace = "istio-system"

// Installer holds what `istioctl install` wrote into istio-system, as Istio's own
// installer renders it (operator/pkg/render, profile default): the ConfigMaps of the
// charts, with the install's meshConfig (the --mesh file), outboundTrafficPolicy.mode
// only once someone set it (a default install writes no mode at all, and istiod's
// default applies), and the injector's --set values. `kubectl get configmap istio -n
// istio-system -o yaml` shows one of these.
type Installer struct {
	mu        sync.Mutex
	meshText  string // the install's meshConfig, YAML
	mode      string // outboundTrafficPolicy.mode as last set; "" while never set
	installed metav1.Time
	dir       string                   // where the IstioOperator overlay is written
	served    map[string]*servedObject // namespace/name -> its identity
	version   int                      // the cluster's last resourceVersion
}

// servedObject is what the API server adds to an object: uid, resourceVersion (bumped
// when the object changes), creationTimestamp.
type servedObject struct {
	uid     string
	version int
	digest  [32]byte
}

// NewInstaller records an install made now with this meshConfig; overlays go in dir.
func NewInstaller(meshText, dir string) (*Installer, error) {
	if _, err := mesh.ApplyMeshConfigDefaults(meshText); err != nil {
		return nil, fmt.Errorf("the install's meshConfig: %v", err)
	}
	return &Installer{
		meshText:  meshText,
		installed: metav1.NewTime(time.Now().UTC().Truncate(time.Second)),
		dir:       dir,
		served:    map[string]*servedObject{},
	}, nil
}

// InstalledMode is the outboundTrafficPolicy.mode istiod runs with when nobody set
// one: the install's meshConfig over istiod's defaults.
func (i *Installer) InstalledMode() string {
	cfg, err := mesh.ApplyMeshConfigDefaults(i.meshText)
	if err != nil {
		return mesh.DefaultMeshConfig().GetOutboundTrafficPolicy().GetMode().String()
	}
	return cfg.GetOutboundTrafficPolicy().GetMode().String()
}

// SetMode records the mode as the istio ConfigMap now holds it ("": no mode line).
func (i *Installer) SetMode(mode string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.mode = mode
}

// ConfigMaps are the ConfigMaps of the install in namespace, as the API server serves
// them, sorted by name; injector holds the injector's --set values (helm's names).
func (i *Installer) ConfigMaps(namespace string, injector map[string]string) ([]map[string]any, error) {
	rendered, err := i.render(injector)
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	var out []map[string]any
	for _, object := range rendered {
		metadata, _ := object["metadata"].(map[string]any)
		if metadata["namespace"] != namespace {
			continue
		}
		out = append(out, i.serve(object))
	}
	sort.Slice(out, func(a, b int) bool { return nameOf(out[a]) < nameOf(out[b]) })
	return out, nil
}

// ConfigMap is one ConfigMap of the install, or nil when the install has none so named.
func (i *Installer) ConfigMap(namespace, name string, injector map[string]string) (map[string]any, error) {
	items, err := i.ConfigMaps(namespace, injector)
	if err != nil {
		return nil, err
	}
	for _, item := range items {
		if nameOf(item) == name {
			return item, nil
		}
	}
	return nil, nil
}

func nameOf(object map[string]any) string {
	metadata, _ := object["metadata"].(map[string]any)
	name, _ := metadata["name"].(string)
	return name
}

// serve adds the API server's fields to a copy of a rendered object. The caller holds i.mu.
func (i *Installer) serve(rendered map[string]any) map[string]any {
	raw, _ := json.Marshal(rendered)
	var object map[string]any
	_ = json.Unmarshal(raw, &object)
	metadata, _ := object["metadata"].(map[string]any)
	key := fmt.Sprintf("%v/%v", metadata["namespace"], metadata["name"])
	digest := sha256.Sum256(raw)
	served := i.served[key]
	if served == nil {
		served = &servedObject{uid: string(uuid.NewUUID())}
		i.served[key] = served
	}
	if served.version == 0 || served.digest != digest {
		i.version++
		served.version, served.digest = i.version, digest
	}
	metadata["creationTimestamp"] = i.installed.UTC().Format(time.RFC3339)
	metadata["uid"] = served.uid
	metadata["resourceVersion"] = fmt.Sprint(served.version)
	return object
}

// render runs Istio's installer (renderCharts keeps each distinct render).
func (i *Installer) render(injector map[string]string) ([]map[string]any, error) {
	i.mu.Lock()
	overlay, err := i.overlay()
	i.mu.Unlock()
	if err != nil {
		return nil, err
	}
	flags, err := setFlags(injector)
	if err != nil {
		return nil, err
	}
	objects, err := renderCharts(overlay, flags, i.dir)
	if err != nil {
		return nil, err
	}
	var configMaps []map[string]any
	for _, object := range objects {
		if object["kind"] == "ConfigMap" && object["apiVersion"] == "v1" {
			configMaps = append(configMaps, object)
		}
	}
	return configMaps, nil
}

// overlay is the IstioOperator the install was made with: profile default, the
// install's meshConfig, and the mode if one was set. The caller holds i.mu.
func (i *Installer) overlay() ([]byte, error) {
	meshConfig := map[string]any{}
	if err := yaml.Unmarshal([]byte(i.meshText), &meshConfig); err != nil {
		return nil, fmt.Errorf("the install's meshConfig: %v", err)
	}
	if meshConfig == nil {
		meshConfig = map[string]any{}
	}
	if i.mode != "" {
		policy, _ := meshConfig["outboundTrafficPolicy"].(map[string]any)
		policy = maps.Clone(policy)
		if policy == nil {
			policy = map[string]any{}
		}
		policy["mode"] = i.mode
		meshConfig["outboundTrafficPolicy"] = policy
	}
	return yaml.Marshal(map[string]any{
		"apiVersion": "install.istio.io/v1alpha1",
		"kind":       "IstioOperator",
		"spec":       map[string]any{"profile": "default", "meshConfig": meshConfig},
	})
}

// setFlags are the injector's values as istioctl's --set flags, in a stable order.
func setFlags(values map[string]string) ([]string, error) {
	keys := slices.Sorted(maps.Keys(values))
	flags := make([]string, 0, len(keys))
	for _, key := range keys {
		if strings.ContainsAny(key, "=\n") || strings.Contains(values[key], "\n") {
			return nil, fmt.Errorf("values.%s: a --set value is one line without '=' in its name", key)
		}
		flags = append(flags, fmt.Sprintf("values.%s=%s", key, values[key]))
	}
	return flags, nil
}

// notFound is the API server's answer for a missing object of a core resource.
func notFound(resource, name string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  fmt.Sprintf("%s %q not found", resource, name),
		Reason:   metav1.StatusReasonNotFound,
		Details:  &metav1.StatusDetails{Name: name, Kind: resource},
		Code:     http.StatusNotFound,
	}
}

// kubectlYAML is an object as `kubectl get -o yaml` prints it (sigs.k8s.io/yaml over
// its JSON: keys sorted, multi-line strings as literal blocks).
func kubectlYAML(object any) (string, error) {
	raw, err := json.Marshal(object)
	if err != nil {
		return "", err
	}
	text, err := yaml.JSONToYAML(raw)
	return string(text), err
}
