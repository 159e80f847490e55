package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/schema/gvk"
)

// clusterForTest is what the local mesh feeds egress-istiod: the cluster's Services and
// the PeerAuthentication that turns mTLS off for the stock Envoy.
const clusterForTest = `
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: sleep, namespace: default}
spec:
  clusterIP: 198.51.100.200
  selector: {app: sleep}
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: DISABLE}}
`

// meshForTest is the install's meshConfig, as the local mesh passes it (--mesh).
const meshForTest = "accessLogFile: /dev/stdout\nenableAutoMtls: false\n"

// startControl runs the control API over a real ControlPlane, ADS on a unix socket.
func startControl(t *testing.T) *httptest.Server {
	t.Helper()
	server, _ := startControlPlane(t)
	return server
}

// startControlPlane is startControl that also hands back the plane, for tests that
// look into istiod's config store.
func startControlPlane(t *testing.T) (*httptest.Server, *ControlPlane) {
	t.Helper()
	kube, configs, err := splitCluster(clusterForTest)
	if err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("unix", filepath.Join(t.TempDir(), "xds.sock"))
	if err != nil {
		t.Fatal(err)
	}
	meshCfg, err := mesh.ApplyMeshConfigDefaults(meshForTest)
	if err != nil {
		t.Fatal(err)
	}
	plane, err := NewControlPlane(Options{Mesh: meshCfg, KubernetesObjects: kube, Configs: configs, Listener: listener})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plane.Close)
	webhook, err := NewWebhook()
	if err != nil {
		t.Fatal(err)
	}
	injection, err := RenderInjection() // then started on the plane, as main.go does
	if err != nil {
		t.Fatal(err)
	}
	if err := injection.Start(plane); err != nil {
		t.Fatal(err)
	}
	installer, err := NewInstaller(meshForTest, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	control := &Control{plane: plane, apiserver: apiServerForTest(t), webhook: webhook, injection: injection, installer: installer, versions: BuildVersions()}
	server := httptest.NewServer(control.Handler())
	t.Cleanup(server.Close)
	return server, plane
}

func call(t *testing.T, server *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	request, err := http.NewRequest(method, server.URL+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	response, err := server.Client().Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	var decoded map[string]any
	if err := json.NewDecoder(response.Body).Decode(&decoded); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return response.StatusCode, decoded
}

func TestStockEnvoyFlagsAreOff(t *testing.T) {
	if features.ALPNFilter || features.MetadataExchange {
		t.Fatalf("istio.alpn/istio.metadata_exchange are on; a stock Envoy NACKs them")
	}
}

const pageServiceEntryJSON = `[{"apiVersion":"networking.istio.io/v1","kind":"ServiceEntry",
 "metadata":{"name":"httpbin-ext"},"spec":{"hosts":["httpbin.org"],
 "ports":[{"number":80,"name":"http","protocol":"HTTP"}],"resolution":"DNS","location":"MESH_EXTERNAL"}}]`

func TestApplyListDeleteAndPushVersions(t *testing.T) {
	server := startControl(t)
	code, body := call(t, server, "POST", "/apply", pageServiceEntryJSON)
	if code != http.StatusOK {
		t.Fatalf("apply: %d %v", code, body)
	}
	first := PushCounter(body["pushVersion"].(string))
	applied := body["applied"].([]any)[0].(map[string]any)
	if applied["action"] != "created" || applied["namespace"] != "default" {
		t.Fatalf("applied %v", applied)
	}
	_, body = call(t, server, "POST", "/apply", pageServiceEntryJSON)
	if action := body["applied"].([]any)[0].(map[string]any)["action"]; action != "unchanged" {
		t.Fatalf("re-apply: %v", action)
	}
	_, body = call(t, server, "GET", "/resources/serviceentries?namespace=default", "")
	if items := body["items"].([]any); len(items) != 1 {
		t.Fatalf("list: %v", items)
	}
	_, body = call(t, server, "PUT", "/mesh/outboundTrafficPolicy", `{"mode":"REGISTRY_ONLY"}`)
	second := PushCounter(body["pushVersion"].(string))
	if second <= first {
		t.Fatalf("mode change pushed %d after %d", second, first)
	}
	_, body = call(t, server, "GET", "/mesh", "")
	if mode := body["outboundTrafficPolicy"].(map[string]any)["mode"]; mode != "REGISTRY_ONLY" {
		t.Fatalf("mesh mode %v", mode)
	}
	_, body = call(t, server, "DELETE", "/resources/ServiceEntry/default/httpbin-ext", "")
	if body["found"] != true {
		t.Fatalf("delete: %v", body)
	}
	_, body = call(t, server, "DELETE", "/resources/ServiceEntry/default/httpbin-ext", "")
	if body["found"] != false {
		t.Fatalf("second delete: %v", body)
	}
	code, body = call(t, server, "GET", "/resources/nosuchkinds", "")
	if code != http.StatusNotFound || !strings.Contains(body["error"].(string), `doesn't have a resource type "nosuchkinds"`) {
		t.Fatalf("unknown kind: %d %v", code, body)
	}
}

// A created config's creationTimestamp is whole seconds, as the API server stores it,
// whatever the client sent; an update keeps it. istiod orders configs for one host by
// it, so a tie within a second must stay a tie.
func TestCreationTimestampIsTheAPIServersSecond(t *testing.T) {
	server, plane := startControlPlane(t)
	sent := strings.Replace(pageServiceEntryJSON, `"name":"httpbin-ext"`,
		`"name":"httpbin-ext","creationTimestamp":"2001-02-03T04:05:06Z"`, 1)
	before := time.Now().Truncate(time.Second)
	if code, body := call(t, server, "POST", "/apply", sent); code != http.StatusOK {
		t.Fatalf("apply: %d %v", code, body)
	}
	created := plane.ListIstio(gvk.ServiceEntry, "default")[0].CreationTimestamp
	if created.Nanosecond() != 0 || created.Before(before) || created.After(time.Now()) {
		t.Fatalf("creationTimestamp %s: want this second, whole", created.Format(time.RFC3339Nano))
	}
	time.Sleep(time.Until(created.Add(time.Second))) // the update comes a second later
	changed := strings.Replace(pageServiceEntryJSON, `"DNS"`, `"NONE"`, 1)
	if code, body := call(t, server, "POST", "/apply", changed); code != http.StatusOK {
		t.Fatalf("update: %d %v", code, body)
	}
	updated := plane.ListIstio(gvk.ServiceEntry, "default")[0]
	if !updated.CreationTimestamp.Equal(created) || strings.Contains(fmt.Sprint(updated.Spec), "DNS") { // NONE, the zero value, prints as nothing
		t.Fatalf("after the update: creationTimestamp %s (was %s), spec %v", updated.CreationTimestamp, created, updated.Spec)
	}
}

// A clear removes what scenarios applied in one request and one push, and keeps the
// root namespace's config; one with nothing to remove pushes nothing.
func TestClearKeepsTheRootNamespace(t *testing.T) {
	server := startControl(t)
	if code, body := call(t, server, "POST", "/apply", pageServiceEntryJSON); code != http.StatusOK {
		t.Fatalf("apply: %d %v", code, body)
	}
	code, body := call(t, server, "DELETE", "/resources", "")
	if code != http.StatusBadRequest {
		t.Fatalf("a clear without ?keep=: %d %v", code, body)
	}
	_, body = call(t, server, "DELETE", "/resources?keep=istio-system", "")
	deleted := body["deleted"].([]any)
	if len(deleted) != 1 || deleted[0].(map[string]any)["name"] != "httpbin-ext" || body["pushVersion"] == "" {
		t.Fatalf("clear: %v", body)
	}
	_, body = call(t, server, "GET", "/resources/serviceentries", "")
	if items := body["items"].([]any); len(items) != 0 {
		t.Fatalf("after the clear: %v", items)
	}
	_, body = call(t, server, "GET", "/resources/peerauthentications", "")
	if items := body["items"].([]any); len(items) != 1 {
		t.Fatalf("the root namespace's PeerAuthentication went too: %v", items)
	}
	_, body = call(t, server, "DELETE", "/resources?keep=istio-system", "")
	if len(body["deleted"].([]any)) != 0 || body["pushVersion"] != "" {
		t.Fatalf("an empty clear: %v", body)
	}
}

// A stream is all or nothing: the webhook's refusal of the second document leaves the
// first unapplied, and the refusal is Istio's own words for this version.
func TestRefusalAppliesNothing(t *testing.T) {
	server := startControl(t)
	bad := strings.Replace(pageServiceEntryJSON, `"httpbin-ext"},"spec":{"hosts":["httpbin.org"]`,
		`"wild"},"spec":{"hosts":["*.cnn.com"]`, 1)
	stream := pageServiceEntryJSON[:len(pageServiceEntryJSON)-1] + "," + bad[1:]
	code, body := call(t, server, "POST", "/apply", stream)
	if code != http.StatusBadRequest || body["stage"] != "webhook" || body["document"].(float64) != 1 {
		t.Fatalf("refusal: %d %v", code, body)
	}
	status := body["status"].(map[string]any)
	if reason, _ := status["reason"].(string); reason != "" || status["code"].(float64) != 400 {
		t.Fatalf("the API server keeps the webhook's Status (no reason, code 400): %v", status)
	}
	message := status["message"].(string)
	want := `admission webhook "validation.istio.io" denied the request: configuration is invalid: ` +
		`hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS`
	if !strings.HasPrefix(message, want) {
		t.Fatalf("message %q", message)
	}
	_, body = call(t, server, "GET", "/resources/ServiceEntry", "")
	if items := body["items"].([]any); len(items) != 0 {
		t.Fatalf("a refused stream stored %v", items)
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	server := startControl(t)
	big := `[{"apiVersion":"networking.istio.io/v1","kind":"ServiceEntry","metadata":{"name":"x"},"spec":{"hosts":["` +
		strings.Repeat("a", maxRequestBytes) + `"]}}]`
	code, _ := call(t, server, "POST", "/apply", big)
	if code != http.StatusBadRequest {
		t.Fatalf("a %d-byte body got %d", len(big), code)
	}
}

// PushCounter is the push number in a version istiod made ("<time>/<n>").
func PushCounter(version string) int64 {
	index := strings.LastIndex(version, "/")
	n, err := strconv.ParseInt(version[index+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}
