package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
)

// maxRequestBytes is the API server's limit on a request body (3 MiB).
const maxRequestBytes = 3 << 20

// Control is the program's API for the local mesh (over a unix socket): what the
// API server and kubectl give a real cluster, plus istiod's debug endpoints.
type Control struct {
	plane     *ControlPlane
	apiserver *APIServer
	webhook   *Webhook
	injection *Injection
	installer *Installer
	versions  Versions
	stored    storedObjects // the objects as the API server keeps them (objects.go)
}

// Refusal is one document's refusal, at the stage that refused it.
type Refusal struct {
	Stage    string         `json:"stage"` // apiserver or webhook
	Document int            `json:"document"`
	Status   *metav1.Status `json:"status"`
}

// Applied is one document's outcome, in kubectl's words.
type Applied struct {
	Kind      string `json:"kind"`
	Group     string `json:"group"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Action    string `json:"action"` // created, configured, unchanged
}

// Handler routes the control API and istiod's debug mux.
func (c *Control) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, c.versions) })
	mux.HandleFunc("GET /kinds", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, c.apiserver.Kinds()) })
	mux.HandleFunc("POST /apply", c.apply)
	mux.HandleFunc("GET /resources/{kind}", c.list)
	mux.HandleFunc("DELETE /resources/{kind}/{namespace}/{name}", c.delete)
	mux.HandleFunc("DELETE /resources", c.clear)
	mux.HandleFunc("GET /mesh", c.getMesh)
	mux.HandleFunc("PUT /mesh/outboundTrafficPolicy", c.setMode)
	mux.HandleFunc("POST /kubernetes", c.applyKubernetes)
	mux.HandleFunc("DELETE /kubernetes/pods/{namespace}/{name}", c.deletePod)
	mux.HandleFunc("PUT /injector", c.renderInjector)
	mux.HandleFunc("POST /deployments", c.deploy)
	mux.HandleFunc("GET /configmaps/{namespace}", c.listConfigMaps)
	mux.HandleFunc("GET /configmaps/{namespace}/{name}", c.getConfigMap)
	mux.HandleFunc("POST /yaml", c.toYAML)
	mux.HandleFunc("POST /kube-inject", c.kubeInject)
	mux.Handle("/debug/", c.plane.fds.DiscoveryDebug)
	return mux
}

// apply admits every document as the API server would (schema, CEL, then Istio's
// webhook) and stores them only if all are admitted: all or nothing.
// The body is a JSON array of objects (kubectl has already parsed the YAML).
func (c *Control) apply(w http.ResponseWriter, r *http.Request) {
	var documents []map[string]any
	if err := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes+1)).Decode(&documents); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("the request body is not a JSON array of objects: %v", err))
		return
	}
	dryRun := r.URL.Query().Get("dryRun") == "All"
	var configs []config.Config
	var applied []Applied
	var admitted []map[string]any
	for index, document := range documents {
		cfg, refusal, err := c.admit(document)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if refusal != nil {
			refusal.Document = index
			writeJSON(w, int(refusal.Status.Code), refusal)
			return
		}
		configs = append(configs, *cfg)
		admitted = append(admitted, document)
		applied = append(applied, Applied{
			Kind: cfg.GroupVersionKind.Kind, Group: cfg.GroupVersionKind.Group,
			Namespace: cfg.Namespace, Name: cfg.Name, Action: c.action(*cfg, document),
		})
	}
	response := map[string]any{"applied": applied}
	if !dryRun {
		// The API server stores creationTimestamp to the second, and ignores one the
		// client sends. istiod orders configs for one host by it, so two created in
		// the same second tie here as they do on a cluster.
		now := time.Now().UTC().Truncate(time.Second)
		for index := range configs {
			configs[index].CreationTimestamp = now // an update keeps its own (ApplyIstio)
		}
		change, err := c.plane.ApplyIstio(configs)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		response["pushVersion"] = change.PushVersion
		for index, cfg := range configs {
			if applied[index].Action != "unchanged" {
				c.stored.put(keyOf(cfg), admitted[index], applied[index].Action == "created", now)
			}
		}
	}
	writeJSON(w, http.StatusOK, response)
}

func (c *Control) admit(document map[string]any) (*config.Config, *Refusal, error) {
	metadata, _ := document["metadata"].(map[string]any)
	if metadata == nil {
		metadata = map[string]any{}
		document["metadata"] = metadata
	}
	if namespace, _ := metadata["namespace"].(string); namespace == "" {
		metadata["namespace"] = "default" // kubectl's namespace when none is given
	}
	if status := c.apiserver.Admit(document); status != nil {
		return nil, &Refusal{Stage: "apiserver", Status: status}, nil
	}
	if status := c.namespaceLifecycle(metadata["namespace"].(string)); status != nil {
		return nil, &Refusal{Stage: "apiserver", Status: status}, nil
	}
	var object crd.IstioKind
	raw, err := json.Marshal(document)
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(raw, &object); err != nil {
		return nil, nil, err
	}
	gvk := object.GroupVersionKind()
	kind := metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
	status, _, err := c.webhook.Review(document, kind, object.Namespace, object.Name)
	if err != nil {
		return nil, nil, err
	}
	if status != nil {
		return nil, &Refusal{Stage: "webhook", Status: status}, nil
	}
	schema, found := collections.Pilot.FindByGroupKind(resource.FromKubernetesGVK(&gvk))
	if !found {
		return nil, &Refusal{Stage: "apiserver", Status: &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
			Message: fmt.Sprintf("istiod does not watch %s.%s", gvk.Kind, gvk.Group),
		}}, nil
	}
	cfg, err := crd.ConvertObject(schema, &object, "cluster.local")
	if err != nil {
		return nil, nil, fmt.Errorf("converting %s %q: %v", gvk.Kind, object.Name, err)
	}
	return cfg, nil, nil
}

// namespaceLifecycle is the API server's NamespaceLifecycle admission: an object in a
// namespace that does not exist is refused, NotFound, in the API server's words.
func (c *Control) namespaceLifecycle(namespace string) *metav1.Status {
	namespaces := c.plane.fds.KubeClient().Kube().CoreV1().Namespaces()
	_, err := namespaces.Get(context.Background(), namespace, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return nil
	}
	return &metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: fmt.Sprintf("namespaces %q not found", namespace),
		Details: &metav1.StatusDetails{Name: namespace, Kind: "namespaces"},
	}
}

func keyOf(cfg config.Config) objectKey {
	return objectKey{cfg.GroupVersionKind.Group, cfg.GroupVersionKind.Kind, cfg.Namespace, cfg.Name}
}

// action is what kubectl apply would print for the config: created, configured or
// unchanged. A stored object is compared as stored (the fields as written); a config
// from the mesh's start has only its protobuf to compare.
func (c *Control) action(cfg config.Config, document map[string]any) string {
	existing := c.plane.fds.Store().Get(cfg.GroupVersionKind, cfg.Name, cfg.Namespace)
	if existing == nil {
		return "created"
	}
	if _, found := c.stored.get(keyOf(*existing)); found {
		if c.stored.changed(keyOf(*existing), document) {
			return "configured"
		}
		return "unchanged"
	}
	a, aok := existing.Spec.(proto.Message)
	b, bok := cfg.Spec.(proto.Message)
	if aok && bok && proto.Equal(a, b) && maps.Equal(existing.Labels, cfg.Labels) && maps.Equal(existing.Annotations, cfg.Annotations) {
		return "unchanged"
	}
	return "configured"
}

func (c *Control) kindOf(w http.ResponseWriter, name string) (config.GroupVersionKind, bool) {
	for _, schema := range collections.Pilot.All() {
		if strings.EqualFold(schema.Kind(), name) || strings.EqualFold(schema.Plural(), name) {
			return schema.GroupVersionKind(), true
		}
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("the server doesn't have a resource type %q", name))
	return config.GroupVersionKind{}, false
}

func (c *Control) list(w http.ResponseWriter, r *http.Request) {
	gvk, ok := c.kindOf(w, r.PathValue("kind"))
	if !ok {
		return
	}
	items := []map[string]any{}
	configs := c.plane.ListIstio(gvk, r.URL.Query().Get("namespace"))
	// The API server lists in etcd's key order (.../namespace/name); the store's is a map's.
	slices.SortFunc(configs, func(a, b config.Config) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, cfg := range configs {
		if stored, found := c.stored.get(keyOf(cfg)); found {
			items = append(items, stored)
			continue
		}
		object, err := crd.ConvertConfig(cfg)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		var item map[string]any
		raw, _ := json.Marshal(object)
		_ = json.Unmarshal(raw, &item)
		items = append(items, item)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (c *Control) delete(w http.ResponseWriter, r *http.Request) {
	gvk, ok := c.kindOf(w, r.PathValue("kind"))
	if !ok {
		return
	}
	found, change, err := c.plane.DeleteIstio(gvk, r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	c.stored.remove(objectKey{gvk.Group, gvk.Kind, r.PathValue("namespace"), r.PathValue("name")})
	writeJSON(w, http.StatusOK, map[string]any{"found": found, "pushVersion": change.PushVersion})
}

// clear removes every Istio resource outside the namespace named by ?keep= (the
// install's root namespace), in one request and one push; it answers with what went,
// in kubectl delete's terms, and the push the proxy must ACK.
func (c *Control) clear(w http.ResponseWriter, r *http.Request) {
	keep := r.URL.Query().Get("keep")
	if keep == "" {
		writeError(w, http.StatusBadRequest, "a clear names the namespace it keeps: ?keep=NAMESPACE")
		return
	}
	deleted, change, err := c.plane.ClearIstio(keep)
	gone := []map[string]string{}
	for _, cfg := range deleted {
		gvk := cfg.GroupVersionKind
		c.stored.remove(objectKey{gvk.Group, gvk.Kind, cfg.Namespace, cfg.Name})
		gone = append(gone, map[string]string{"kind": gvk.Kind, "group": gvk.Group, "namespace": cfg.Namespace, "name": cfg.Name})
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": gone, "pushVersion": change.PushVersion})
}

func (c *Control) getMesh(w http.ResponseWriter, _ *http.Request) {
	text, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(c.plane.MeshConfig())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(text)
}

func (c *Control) setMode(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Mode string `json:"mode"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// No mode: the istio ConfigMap without one, so the install's (istiod's default).
	mode := body.Mode
	if mode == "" {
		mode = c.installer.InstalledMode()
	}
	change, err := c.plane.SetOutboundTrafficPolicy(mode)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	c.installer.SetMode(body.Mode)
	writeJSON(w, http.StatusOK, change)
}

// listConfigMaps is `kubectl get configmaps -n NAMESPACE`: what the install wrote there.
func (c *Control) listConfigMaps(w http.ResponseWriter, r *http.Request) {
	items, err := c.installer.ConfigMaps(r.PathValue("namespace"), c.injection.Values())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if items == nil {
		items = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// getConfigMap is `kubectl get configmap NAME -n NAMESPACE`: the object, and the YAML
// kubectl prints for it; a NotFound Status when the install wrote none so named.
func (c *Control) getConfigMap(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	object, err := c.installer.ConfigMap(r.PathValue("namespace"), name, c.injection.Values())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if object == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"status": notFound("configmaps", name)})
		return
	}
	text, err := kubectlYAML(object)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": object, "yaml": text})
}

// kubeInject is `istioctl kube-inject -f -` of the body (a YAML stream): the injected
// stream and istioctl's warnings, or istioctl's error.
func (c *Control) kubeInject(w http.ResponseWriter, r *http.Request) {
	var out bytes.Buffer
	warnings, err := c.injection.KubeInject(io.LimitReader(r.Body, maxRequestBytes), &out)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"manifest": out.String(), "warnings": warnings})
}

// toYAML prints a JSON object as `kubectl get -o yaml` does.
func (c *Control) toYAML(w http.ResponseWriter, r *http.Request) {
	var object any
	if err := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes)).Decode(&object); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	text, err := kubectlYAML(object)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = io.WriteString(w, text)
}

func (c *Control) applyKubernetes(w http.ResponseWriter, r *http.Request) {
	text, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	change, err := c.plane.ApplyKubernetes(string(text))
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, change)
}

func (c *Control) deletePod(w http.ResponseWriter, r *http.Request) {
	found, err := c.plane.DeletePod(r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"found": found})
}

// renderInjector re-renders istio-sidecar-injector with the body's --set values (the
// same values as last time render nothing).
func (c *Control) renderInjector(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Values map[string]string `json:"values"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := c.injection.Render(body.Values); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"values": c.injection.Values()})
}

// deploy is `kubectl apply` of a Deployment (?injection=manual: piped through istioctl
// kube-inject first) and the pod (?pod=NAME) its ReplicaSet creates, after admission.
func (c *Control) deploy(w http.ResponseWriter, r *http.Request) {
	var deployment appsv1.Deployment
	decoder := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&deployment); err != nil {
		writeError(w, http.StatusBadRequest, "decoding the Deployment: "+err.Error())
		return
	}
	injection := r.URL.Query().Get("injection")
	if injection != "manual" && injection != "automatic" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("injection %q: manual or automatic", injection))
		return
	}
	pod := r.URL.Query().Get("pod")
	if pod == "" {
		writeError(w, http.StatusBadRequest, "pod: the name of the pod to create is required")
		return
	}
	workload, err := c.injection.Deploy(&deployment, injection == "manual", pod)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, workload)
}

func writeJSON(w http.ResponseWriter, code int, value any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(value)
}

func writeError(w http.ResponseWriter, code int, message string) {
	writeJSON(w, code, map[string]string{"error": message})
}
