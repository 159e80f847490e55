package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// sleepDeployment is the Deployment of Istio's samples/sleep/sleep.yaml.
const sleepDeployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"sleep"},
 "spec":{"replicas":1,"selector":{"matchLabels":{"app":"sleep"}},
  "template":{"metadata":{"labels":{"app":"sleep"}},"spec":{"terminationGracePeriodSeconds":0,
   "serviceAccountName":"sleep","containers":[{"name":"sleep","image":"docker.io/curlimages/curl:8.16.0",
   "command":["/bin/sleep","infinity"]}]}}}}`

func deploy(t *testing.T, injection string) (int, Workload, string) {
	t.Helper()
	server := startControl(t)
	return deployOn(t, server.URL, server.Client(), injection)
}

func deployOn(t *testing.T, url string, client *http.Client, injection string) (int, Workload, string) {
	t.Helper()
	response, err := client.Post(url+"/deployments?injection="+injection+"&pod=sleep-5f7c9d8b4-x2k9q", "application/json", stringsReader(sleepDeployment))
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(response.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	var workload Workload
	_ = json.Unmarshal(raw, &workload)
	return response.StatusCode, workload, string(raw)
}

func containerNames(containers []corev1.Container) []string {
	var out []string
	for _, c := range containers {
		out = append(out, c.Name)
	}
	return out
}

func initArgs(t *testing.T, pod *corev1.Pod) []string {
	t.Helper()
	for _, c := range pod.Spec.InitContainers {
		if c.Name == "istio-init" {
			return c.Args
		}
	}
	t.Fatalf("the pod has no istio-init: %v", containerNames(pod.Spec.InitContainers))
	return nil
}

func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return "(absent)"
}

func TestAutomaticInjectionIsTheWebhooks(t *testing.T) {
	code, workload, raw := deploy(t, "automatic")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, raw)
	}
	if got := containerNames(workload.Deployment.Spec.Template.Spec.Containers); !slices.Equal(got, []string{"sleep"}) {
		t.Errorf("the stored Deployment was changed: %v", got)
	}
	if got := containerNames(workload.Pod.Spec.Containers); !slices.Equal(got, []string{"sleep", "istio-proxy"}) {
		t.Errorf("pod containers %v, want sleep and istio-proxy", got)
	}
	if workload.Pod.Annotations["sidecar.istio.io/status"] == "" {
		t.Errorf("the webhook left no sidecar.istio.io/status: %v", workload.Pod.Annotations)
	}
	if got := argAfter(initArgs(t, workload.Pod), "-i"); got != "*" {
		t.Errorf("istio-init -i %q, want * (every destination)", got)
	}
	if workload.Pod.Labels["security.istio.io/tlsMode"] != "istio" {
		t.Errorf("labels %v lack the injector's security.istio.io/tlsMode", workload.Pod.Labels)
	}
}

func TestManualInjectionIsKubeInject(t *testing.T) {
	code, workload, raw := deploy(t, "manual")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, raw)
	}
	if got := containerNames(workload.Deployment.Spec.Template.Spec.Containers); !slices.Equal(got, []string{"sleep", "istio-proxy"}) {
		t.Errorf("kube-inject left the Deployment with %v", got)
	}
	if got := containerNames(workload.Pod.Spec.Containers); !slices.Equal(got, []string{"sleep", "istio-proxy"}) {
		t.Errorf("pod containers %v (the webhook must not inject twice)", got)
	}
}

func TestIncludeIPRangesComeFromTheInjectorValues(t *testing.T) {
	server := startControl(t)
	code, body := call(t, server, "PUT", "/injector", `{"values":{"global.proxy.includeIPRanges":"198.51.100.128/25"}}`)
	if code != http.StatusOK {
		t.Fatalf("PUT /injector: HTTP %d %v", code, body)
	}
	code, workload, raw := deployOn(t, server.URL, server.Client(), "automatic")
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, raw)
	}
	if got := argAfter(initArgs(t, workload.Pod), "-i"); got != "198.51.100.128/25" {
		t.Errorf("istio-init -i %q after rendering with includeIPRanges", got)
	}
}

func TestDeployRefusesBadRequests(t *testing.T) {
	server := startControl(t)
	for _, path := range []string{"/deployments?injection=sometimes&pod=p", "/deployments?injection=manual"} {
		response, err := server.Client().Post(server.URL+path, "application/json", stringsReader(sleepDeployment))
		if err != nil {
			t.Fatal(err)
		}
		response.Body.Close()
		if response.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", path, response.StatusCode)
		}
	}
}

func stringsReader(s string) *bytes.Reader { return bytes.NewReader([]byte(s)) }

// istioctl kube-inject of the sample's stream: the Deployment gets istio-init and
// istio-proxy, the ServiceAccount and Service pass through as they were.
func TestKubeInjectOfTheSample(t *testing.T) {
	server := startControl(t)
	stream := "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sleep\n---\n" + sleepDeploymentYAML
	response, err := server.Client().Post(server.URL+"/kube-inject", "application/yaml", stringsReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	var body struct {
		Manifest string   `json:"manifest"`
		Warnings []string `json:"warnings"`
	}
	if err := json.NewDecoder(response.Body).Decode(&body); err != nil || response.StatusCode != http.StatusOK {
		t.Fatalf("kube-inject: %d %v", response.StatusCode, err)
	}
	var documents []string // istioctl ends every document with "---"
	for _, document := range strings.Split(body.Manifest, "---\n") {
		if strings.TrimSpace(document) != "" {
			documents = append(documents, document)
		}
	}
	if len(documents) != 2 || !strings.Contains(documents[0], "kind: ServiceAccount") {
		t.Fatalf("the stream is not passed through (%d documents):\n%s", len(documents), body.Manifest)
	}
	for _, want := range []string{"kind: Deployment", "name: istio-proxy", "name: istio-init", "sidecar.istio.io/status"} {
		if !strings.Contains(documents[1], want) {
			t.Fatalf("the Deployment lacks %q:\n%s", want, documents[1])
		}
	}
}

// sleepDeploymentYAML is sleepDeployment as the sample file has it.
const sleepDeploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleep
spec:
  replicas: 1
  selector:
    matchLabels:
      app: sleep
  template:
    metadata:
      labels:
        app: sleep
    spec:
      serviceAccountName: sleep
      containers:
      - name: sleep
        image: docker.io/curlimages/curl:8.16.0
        command: ["/bin/sleep", "infinity"]
`
