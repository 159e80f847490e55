package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// istioConfigMap is GET /configmaps/istio-system/istio: the object and kubectl's YAML.
func istioConfigMap(t *testing.T, call func(method, path, body string) (int, map[string]any)) (map[string]any, string) {
	t.Helper()
	code, body := call("GET", "/configmaps/istio-system/istio", "")
	if code != http.StatusOK {
		t.Fatalf("get configmap istio: %d %v", code, body)
	}
	return body["object"].(map[string]any), body["yaml"].(string)
}

// A default install writes no outboundTrafficPolicy: the page's `grep -o "mode:
// ALLOW_ANY"` finds nothing. Setting a mode writes it (a new resourceVersion, the
// same uid); setting none takes it out again.
func TestIstioConfigMapHasAModeOnlyOnceSet(t *testing.T) {
	server := startControl(t)
	get := func(method, path, body string) (int, map[string]any) { return call(t, server, method, path, body) }
	object, text := istioConfigMap(t, get)
	mesh := object["data"].(map[string]any)["mesh"].(string)
	if strings.Contains(mesh, "outboundTrafficPolicy") || strings.Contains(text, "mode:") {
		t.Fatalf("a default install has a mode:\n%s", text)
	}
	for _, want := range []string{"accessLogFile: /dev/stdout", "enableAutoMtls: false", "rootNamespace: istio-system"} {
		if !strings.Contains(mesh, want) {
			t.Fatalf("the mesh key lacks %q:\n%s", want, mesh)
		}
	}
	for _, want := range []string{"apiVersion: v1\ndata:\n", "  mesh: |-\n    ", "kind: ConfigMap\nmetadata:\n", "  name: istio\n  namespace: istio-system\n", "  creationTimestamp: \"", "  uid: "} {
		if !strings.Contains(text, want) {
			t.Fatalf("kubectl's YAML lacks %q:\n%s", want, text)
		}
	}
	metadata := object["metadata"].(map[string]any)
	uid, version := metadata["uid"], metadata["resourceVersion"]
	if _, again := istioConfigMap(t, get); again != text {
		t.Fatalf("an unchanged ConfigMap changed:\n%s\n%s", text, again)
	}

	if code, body := get("PUT", "/mesh/outboundTrafficPolicy", `{"mode":"REGISTRY_ONLY"}`); code != http.StatusOK {
		t.Fatalf("set mode: %d %v", code, body)
	}
	object, text = istioConfigMap(t, get)
	if !strings.Contains(text, "\n      mode: REGISTRY_ONLY\n") {
		t.Fatalf("no mode: REGISTRY_ONLY line:\n%s", text)
	}
	metadata = object["metadata"].(map[string]any)
	if metadata["uid"] != uid || metadata["resourceVersion"] == version {
		t.Fatalf("uid %v -> %v, resourceVersion %v -> %v", uid, metadata["uid"], version, metadata["resourceVersion"])
	}

	if code, body := get("PUT", "/mesh/outboundTrafficPolicy", `{"mode":""}`); code != http.StatusOK {
		t.Fatalf("unset mode: %d %v", code, body)
	}
	_, text = istioConfigMap(t, get)
	if strings.Contains(text, "mode:") {
		t.Fatalf("an unset mode is still written:\n%s", text)
	}
	_, body := get("GET", "/mesh", "")
	if mode := body["outboundTrafficPolicy"].(map[string]any)["mode"]; mode != "ALLOW_ANY" {
		t.Fatalf("with no mode istiod runs %v, not the install's ALLOW_ANY", mode)
	}
}

func TestConfigMapsOfTheInstall(t *testing.T) {
	server := startControl(t)
	code, body := call(t, server, "GET", "/configmaps/istio-system", "")
	if code != http.StatusOK {
		t.Fatalf("list: %d %v", code, body)
	}
	var names []string
	for _, item := range body["items"].([]any) {
		names = append(names, item.(map[string]any)["metadata"].(map[string]any)["name"].(string))
	}
	joined := strings.Join(names, ",")
	if !strings.Contains(joined, "istio,") || !strings.Contains(joined, "istio-sidecar-injector") {
		t.Fatalf("istio-system holds %v", names)
	}
	code, body = call(t, server, "GET", "/configmaps/istio-system/nosuch", "")
	status, _ := body["status"].(map[string]any)
	if code != http.StatusNotFound || status["reason"] != "NotFound" || status["message"] != `configmaps "nosuch" not found` {
		t.Fatalf("missing ConfigMap: %d %v", code, body)
	}
	code, body = call(t, server, "GET", "/configmaps/default", "")
	if code != http.StatusOK || len(body["items"].([]any)) != 0 {
		t.Fatalf("default holds %v", body)
	}
}

func TestYAMLAsKubectlPrintsIt(t *testing.T) {
	server := startControl(t)
	response, err := server.Client().Post(server.URL+"/yaml", "application/json",
		strings.NewReader(`{"kind":"List","apiVersion":"v1","items":[],"metadata":{"resourceVersion":""},"data":{"a":"x\ny"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	raw, err := io.ReadAll(response.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	want := "apiVersion: v1\ndata:\n  a: |-\n    x\n    y\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n"
	if text != want {
		t.Fatalf("got\n%s\nwant\n%s", text, want)
	}
}
