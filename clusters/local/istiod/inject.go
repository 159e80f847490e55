package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/kube/inject"
)

// InjectorConfigMap is the ConfigMap that istiod's injector and istioctl kube-inject
// read their templates and values from.
const InjectorConfigMap = "istio-sidecar-injector"

// injectionLabel is the namespace label that the istio-sidecar-injector
// MutatingWebhookConfiguration selects (the page's `kubectl label namespace`).
const injectionLabel = "istio-injection"

// Injection is sidecar injection as a cluster with Istio does it: the
// istio-sidecar-injector ConfigMap rendered from Istio's own charts (as `istioctl
// install` or the page's `helm template` would), istiod's mutating webhook for
// automatic injection, and istioctl kube-inject's code for manual injection. The pod
// that comes out (its containers, its istio-init arguments) is what the local mesh
// then runs.
type Injection struct {
	mu       sync.Mutex
	rendered bool
	values   map[string]string // the --set values the injector was rendered with
	config   inject.Config     // istio-sidecar-injector's config and values, parsed once
	settings inject.ValuesConfig
	watcher  *injectorWatcher
	mux      *http.ServeMux
	env      *model.Environment
	plane    *ControlPlane
}

// RenderInjection renders the injector with Istio's defaults. It needs no discovery
// server, so egress-istiod runs it beside the server's start (about 25 ms here, even
// from the render cache: parsing the templates and values).
func RenderInjection() (*Injection, error) {
	i := &Injection{watcher: &injectorWatcher{}, mux: http.NewServeMux()}
	if err := i.Render(nil); err != nil {
		return nil, err
	}
	return i, nil
}

// Start serves the rendered injector's webhook on the discovery server's environment
// (its mesh config and push context), and injects through its Kubernetes.
func (i *Injection) Start(plane *ControlPlane) error {
	i.env, i.plane = plane.fds.Env(), plane
	if _, err := inject.NewWebhook(inject.WebhookParameters{Watcher: i.watcher, Env: i.env, Mux: i.mux}); err != nil {
		return fmt.Errorf("starting the injection webhook: %v", err)
	}
	return nil
}

// Render regenerates istio-sidecar-injector from Istio's charts with these values
// (helm's --set names under `values`, e.g. global.proxy.includeIPRanges), as the
// page's `helm template ... | kubectl apply` does, and hands it to the webhook. The
// same values again render nothing (a chart render is the slow part of a pod).
func (i *Injection) Render(values map[string]string) error {
	if values == nil {
		values = map[string]string{}
	}
	i.mu.Lock()
	unchanged := i.rendered && maps.Equal(i.values, values)
	i.mu.Unlock()
	if unchanged {
		return nil
	}
	flags := []string{"profile=default"}
	keys := make([]string, 0, len(values))
	for key := range values {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if strings.ContainsAny(key, "=\n") || strings.Contains(values[key], "\n") {
			return fmt.Errorf("values.%s: a --set value is one line without '=' in its name", key)
		}
		flags = append(flags, fmt.Sprintf("values.%s=%s", key, values[key]))
	}
	objects, err := renderCharts(nil, flags, "")
	if err != nil {
		return err
	}
	var data map[string]string // the ConfigMap's data: config (templates) and values
	for _, object := range objects {
		metadata, _ := object["metadata"].(map[string]any)
		if object["kind"] != "ConfigMap" || metadata["name"] != InjectorConfigMap {
			continue
		}
		raw, _ := object["data"].(map[string]any)
		data = map[string]string{}
		for key, value := range raw {
			data[key], _ = value.(string)
		}
	}
	if data == nil {
		return fmt.Errorf("Istio's charts rendered no %s ConfigMap", InjectorConfigMap)
	}
	config, err := inject.UnmarshalConfig([]byte(data["config"]))
	if err != nil {
		return fmt.Errorf("%s: %v", InjectorConfigMap, err)
	}
	settings, err := inject.NewValuesConfig(data["values"])
	if err != nil {
		return fmt.Errorf("%s: %v", InjectorConfigMap, err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rendered, i.values, i.config, i.settings = true, values, config, settings
	return i.watcher.set(&config, data["values"])
}

// Values are the --set values the injector was last rendered with.
func (i *Injection) Values() map[string]string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.values
}

// Workload is a Deployment as the API server stored it and the pod its ReplicaSet
// created, after admission.
type Workload struct {
	Deployment *appsv1.Deployment `json:"deployment"`
	Pod        *corev1.Pod        `json:"pod"`
}

// Deploy runs what `kubectl apply` of a Deployment sets in motion. With manual, the
// Deployment first goes through istioctl kube-inject (the page's `kubectl apply -f
// <(istioctl kube-inject -f ...)`). Then the ReplicaSet's pod is admitted: when its
// namespace carries istio-injection=enabled, the API server sends it to istiod's
// injection webhook, which leaves an already injected pod alone.
func (i *Injection) Deploy(deployment *appsv1.Deployment, manual bool, podName string) (*Workload, error) {
	if deployment.Namespace == "" {
		deployment.Namespace = "default"
	}
	stored := deployment
	if manual {
		injected, err := i.kubeInject(deployment)
		if err != nil {
			return nil, err
		}
		stored = injected
	}
	pod := podFromTemplate(stored, podName)
	selected, err := i.namespaceSelected(pod.Namespace)
	if err != nil {
		return nil, err
	}
	if selected {
		if pod, err = i.admit(pod); err != nil {
			return nil, err
		}
	}
	return &Workload{Deployment: stored, Pod: pod}, nil
}

// kubeInject is `istioctl kube-inject -f`: the templates and values of the cluster's
// istio-sidecar-injector ConfigMap and the mesh config istiod runs with.
func (i *Injection) kubeInject(deployment *appsv1.Deployment) (*appsv1.Deployment, error) {
	i.mu.Lock()
	config, values := i.config, i.settings
	i.mu.Unlock()
	var warnings []string
	out, err := inject.IntoObject(nil, config.Templates, values, "", i.plane.MeshConfig(), deployment,
		func(warning string) { warnings = append(warnings, strings.TrimSpace(warning)) })
	if err != nil {
		return nil, fmt.Errorf("istioctl kube-inject: %v", err)
	}
	injected, ok := out.(*appsv1.Deployment)
	if !ok {
		return nil, fmt.Errorf("istioctl kube-inject returned a %T", out)
	}
	if len(warnings) > 0 && !hasContainer(injected.Spec.Template.Spec.Containers, "istio-proxy") {
		return nil, fmt.Errorf("istioctl kube-inject: %s", strings.Join(warnings, "; "))
	}
	return injected, nil
}

// KubeInject is `istioctl kube-inject -f FILE`: the stream with every injectable object
// injected (inject.IntoResourceFile, what istioctl runs) from the cluster's
// istio-sidecar-injector and mesh config, written as istioctl writes it; the warnings are
// what istioctl prints on stderr.
func (i *Injection) KubeInject(in io.Reader, out io.Writer) ([]string, error) {
	i.mu.Lock()
	config, values := i.config, i.settings
	i.mu.Unlock()
	var warnings []string
	err := inject.IntoResourceFile(nil, config.Templates, values, "", i.plane.MeshConfig(), in, out,
		func(warning string) { warnings = append(warnings, warning) })
	return warnings, err
}

// namespaceSelected is the webhook configuration's namespaceSelector, evaluated by
// the API server: the namespace is labelled istio-injection=enabled.
func (i *Injection) namespaceSelected(namespace string) (bool, error) {
	ns, err := i.plane.fds.KubeClient().Kube().CoreV1().Namespaces().Get(context.Background(), namespace, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("namespaces %q not found", namespace)
	}
	return ns.Labels[injectionLabel] == "enabled", nil
}

// admit sends the pod to istiod's injection webhook as the API server does on create
// and applies the JSON patch it answers with.
func (i *Injection) admit(pod *corev1.Pod) (*corev1.Pod, error) {
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("egress-conformance"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name:      pod.Name,
			Namespace: pod.Namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return nil, err
	}
	request := httptest.NewRequest(http.MethodPost, "/inject", bytes.NewReader(body))
	request.Header.Set("Content-Type", "application/json")
	recorder := httptest.NewRecorder()
	i.mux.ServeHTTP(recorder, request)
	if recorder.Code != http.StatusOK {
		return nil, fmt.Errorf("the injection webhook answered HTTP %d: %s", recorder.Code, strings.TrimSpace(recorder.Body.String()))
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(recorder.Body.Bytes(), &answer); err != nil || answer.Response == nil {
		return nil, fmt.Errorf("the injection webhook's answer cannot be read: %v", err)
	}
	if !answer.Response.Allowed {
		message := ""
		if answer.Response.Result != nil {
			message = answer.Response.Result.Message
		}
		return nil, fmt.Errorf("admission webhook \"namespace.sidecar-injector.istio.io\" denied the request: %s", message)
	}
	if len(answer.Response.Patch) == 0 {
		return pod, nil
	}
	patch, err := jsonpatch.DecodePatch(answer.Response.Patch)
	if err != nil {
		return nil, fmt.Errorf("the injection webhook's patch: %v", err)
	}
	patched, err := patch.Apply(raw)
	if err != nil {
		return nil, fmt.Errorf("applying the injection webhook's patch: %v", err)
	}
	var out corev1.Pod
	if err := json.Unmarshal(patched, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// podFromTemplate is the pod a Deployment's ReplicaSet creates: the template, named
// <deployment>-<template hash>-<suffix>, owned by the ReplicaSet.
func podFromTemplate(deployment *appsv1.Deployment, podName string) *corev1.Pod {
	template := deployment.Spec.Template.DeepCopy()
	labels := map[string]string{}
	for key, value := range template.Labels {
		labels[key] = value
	}
	replicaSet := deployment.Name
	if parts := strings.Split(podName, "-"); len(parts) >= 3 {
		hash := parts[len(parts)-2]
		labels["pod-template-hash"] = hash
		replicaSet = deployment.Name + "-" + hash
	}
	controller := true
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        podName,
			Namespace:   deployment.Namespace,
			Labels:      labels,
			Annotations: template.Annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: replicaSet, Controller: &controller,
			}},
		},
		Spec: template.Spec,
	}
}

func hasContainer(containers []corev1.Container, name string) bool {
	return slices.ContainsFunc(containers, func(c corev1.Container) bool { return c.Name == name })
}

// injectorWatcher hands the webhook the injector's config whenever it is re-rendered
// (istiod watches the ConfigMap; here the render is the only writer).
type injectorWatcher struct {
	mu      sync.Mutex
	config  *inject.Config
	values  string
	handler func(*inject.Config, string) error
}

func (w *injectorWatcher) SetHandler(handler func(*inject.Config, string) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handler = handler
}

func (w *injectorWatcher) Run(<-chan struct{}) {}

func (w *injectorWatcher) Get() (*inject.Config, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.config, w.values, nil
}

func (w *injectorWatcher) set(config *inject.Config, values string) error {
	w.mu.Lock()
	w.config, w.values = config, values
	handler := w.handler
	w.mu.Unlock()
	if handler != nil {
		return handler(config, values)
	}
	return nil
}
