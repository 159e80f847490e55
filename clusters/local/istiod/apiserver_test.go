package main

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// testAPIServer is built once: compiling every CRD's CEL rules takes a moment.
var testAPIServer = sync.OnceValues(NewAPIServer)

func apiServerForTest(t *testing.T) *APIServer {
	t.Helper()
	a, err := testAPIServer()
	if err != nil {
		t.Fatalf("NewAPIServer: %v", err)
	}
	return a
}

const (
	pageServiceEntry = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin-ext}
spec:
  hosts: [httpbin.org]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  location: MESH_EXTERNAL
`
	pageVirtualService = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: [httpbin.org]
  http: [{timeout: 3s, route: [{destination: {host: httpbin.org}, weight: 100}]}]
`
)

// cause is an expected StatusCause; Message is matched as a prefix.
type cause struct{ Field, Message string }

func TestAPIServerAdmit(t *testing.T) {
	a := apiServerForTest(t)
	cases := []struct {
		name    string
		yaml    string
		edit    func(string) string
		reason  metav1.StatusReason // "" means accepted
		message string              // exact Status.Message when set
		causes  []cause             // exact list of causes, messages by prefix
	}{
		{name: "page ServiceEntry accepted", yaml: pageServiceEntry},
		{name: "page VirtualService accepted", yaml: pageVirtualService},
		{
			name: "v1alpha3 ServiceEntry accepted", yaml: pageServiceEntry,
			edit: func(s string) string { return strings.Replace(s, "/v1\n", "/v1alpha3\n", 1) },
		},
		{
			name: "resolution DSN", yaml: pageServiceEntry,
			edit:    func(s string) string { return strings.Replace(s, "resolution: DNS", "resolution: DSN", 1) },
			reason:  metav1.StatusReasonInvalid,
			message: `ServiceEntry.networking.istio.io "httpbin-ext" is invalid: [spec.resolution: Unsupported value: "DSN": supported values: "NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS", <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`,
			causes: []cause{
				{"spec.resolution", `Unsupported value: "DSN": supported values:`},
				{"<nil>", "Invalid value: null: some validation rules were not checked"},
			},
		},
		{
			name: "missing hosts", yaml: pageServiceEntry,
			edit:    func(s string) string { return strings.Replace(s, "  hosts: [httpbin.org]\n", "", 1) },
			reason:  metav1.StatusReasonInvalid,
			message: `ServiceEntry.networking.istio.io "httpbin-ext" is invalid: [spec.hosts: Required value, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`,
			causes: []cause{
				{"spec.hosts", "Required value"},
				{"<nil>", "Invalid value: null: some validation rules were not checked"},
			},
		},
		{
			name: "port 70000 (CEL)", yaml: pageServiceEntry,
			edit:    func(s string) string { return strings.Replace(s, "number: 80", "number: 70000", 1) },
			reason:  metav1.StatusReasonInvalid,
			message: `ServiceEntry.networking.istio.io "httpbin-ext" is invalid: spec.ports[0].number: Invalid value: 70000: port must be between 1-65535`,
			causes:  []cause{{"spec.ports[0].number", `Invalid value: 70000: port must be between 1-65535`}},
		},
		{
			name: "VirtualService timeout -1s (CEL)", yaml: pageVirtualService,
			edit:    func(s string) string { return strings.Replace(s, "timeout: 3s", "timeout: -1s", 1) },
			reason:  metav1.StatusReasonInvalid,
			message: `VirtualService.networking.istio.io "httpbin" is invalid: spec.http[0].timeout: Invalid value: "-1s": must be a valid duration greater than 1ms`,
			causes:  []cause{{"spec.http[0].timeout", `Invalid value: "-1s": must be a valid duration greater than 1ms`}},
		},
		{
			name: "unknown field spec.foo", yaml: pageServiceEntry + "  foo: bar\n",
			reason:  metav1.StatusReasonBadRequest,
			message: `ServiceEntry in version "v1" cannot be handled as a ServiceEntry: strict decoding error: unknown field "spec.foo"`,
		},
		{
			name: "unknown fields are all listed, metadata too", yaml: pageServiceEntry + "  foo: bar\n  ports2: []\n",
			edit: func(s string) string {
				return strings.Replace(s, "{name: httpbin-ext}", "{name: httpbin-ext, nmae: x}", 1)
			},
			reason:  metav1.StatusReasonBadRequest,
			message: `ServiceEntry in version "v1" cannot be handled as a ServiceEntry: strict decoding error: unknown field "metadata.nmae", unknown field "spec.foo", unknown field "spec.ports2"`,
		},
		{
			name: "status is dropped on create (status subresource)", yaml: pageServiceEntry + "status: {foo: 1}\n",
		},
		{
			name: "missing metadata.name", yaml: pageServiceEntry,
			edit:   func(s string) string { return strings.Replace(s, "{name: httpbin-ext}", "{}", 1) },
			reason: metav1.StatusReasonInvalid,
			// Required is a "blocking" error, so even a metadata error turns CEL off.
			message: `ServiceEntry.networking.istio.io "" is invalid: [metadata.name: Required value: name or generateName is required, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]`,
			causes: []cause{
				{"metadata.name", "Required value: name or generateName is required"},
				{"<nil>", "Invalid value: null: some validation rules were not checked"},
			},
		},
		{
			// Non-blocking errors (Invalid) let CEL run: both are reported, metadata first.
			name: "bad name and port 70000 together", yaml: pageServiceEntry,
			edit: func(s string) string {
				return strings.Replace(strings.Replace(s, "httpbin-ext", "Bad_Name", 1), "number: 80", "number: 70000", 1)
			},
			reason: metav1.StatusReasonInvalid,
			causes: []cause{
				{"metadata.name", `Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain`},
				{"spec.ports[0].number", `Invalid value: 70000: port must be between 1-65535`},
			},
		},
		{
			name: "bad metadata.name", yaml: pageServiceEntry,
			edit:    func(s string) string { return strings.Replace(s, "httpbin-ext", "Bad_Name", 1) },
			reason:  metav1.StatusReasonInvalid,
			message: `ServiceEntry.networking.istio.io "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
			causes:  []cause{{"metadata.name", `Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain`}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.yaml
			if tc.edit != nil {
				src = tc.edit(src)
			}
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(src), &obj); err != nil {
				t.Fatal(err)
			}
			before, _ := json.Marshal(obj)
			st := a.Admit(obj)
			if after, _ := json.Marshal(obj); string(before) != string(after) {
				t.Errorf("Admit modified its input:\n%s\n%s", before, after)
			}
			if st == nil {
				t.Log("accepted")
				if tc.reason != "" {
					t.Fatalf("accepted, want %s", tc.reason)
				}
				return
			}
			out, _ := json.MarshalIndent(st, "", "  ")
			t.Logf("message: %s\nstatus: %s", st.Message, out)
			if st.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", st.Reason, tc.reason)
			}
			if tc.message != "" && st.Message != tc.message {
				t.Errorf("message\n got %s\nwant %s", st.Message, tc.message)
			}
			if tc.causes == nil {
				return
			}
			if st.Details == nil || len(st.Details.Causes) != len(tc.causes) {
				t.Fatalf("causes %+v, want %+v", st.Details, tc.causes)
			}
			for i, c := range st.Details.Causes {
				if c.Field != tc.causes[i].Field || !strings.HasPrefix(c.Message, tc.causes[i].Message) {
					t.Errorf("cause %d: %+v, want %+v", i, c, tc.causes[i])
				}
			}
		})
	}
}

func TestAPIServerServed(t *testing.T) {
	a := apiServerForTest(t)
	for _, tc := range []struct {
		apiVersion, kind string
		want             bool
	}{
		{"networking.istio.io/v1", "ServiceEntry", true},
		{"networking.istio.io/v1alpha3", "ServiceEntry", true},
		{"networking.istio.io/v1beta1", "ServiceEntry", true},
		{"networking.istio.io/v1alpha3", "VirtualService", true},
		{"networking.istio.io/v1beta1", "VirtualService", true},
		{"networking.istio.io/v1", "Foo", false},
		{"networking.istio.io/v2", "ServiceEntry", false},
		{"security.istio.io/v1", "AuthorizationPolicy", true},
	} {
		if got := a.Served(tc.apiVersion, tc.kind); got != tc.want {
			t.Errorf("Served(%q, %q) = %v, want %v", tc.apiVersion, tc.kind, got, tc.want)
		}
	}
	st := a.Admit(map[string]any{"apiVersion": "networking.istio.io/v1", "kind": "Foo", "metadata": map[string]any{"name": "x"}})
	t.Logf("unserved kind: %+v", st)
	if st == nil || st.Message != `no matches for kind "Foo" in version "networking.istio.io/v1"` {
		t.Errorf("Admit(Foo) = %+v", st)
	}
}

func TestAPIServerKinds(t *testing.T) {
	a := apiServerForTest(t)
	var se *KindInfo
	for _, k := range a.Kinds() {
		t.Logf("%s.%s plural=%s singular=%s short=%v versions=%v namespaced=%v", k.Kind, k.Group, k.Plural, k.Singular, k.ShortNames, k.Versions, k.Namespaced)
		if k.Kind == "ServiceEntry" {
			se = &k
		}
	}
	if se == nil {
		t.Fatal("ServiceEntry not listed")
	}
	if se.Group != "networking.istio.io" || se.Plural != "serviceentries" || se.Singular != "serviceentry" ||
		!slices.Contains(se.ShortNames, "se") || !se.Namespaced ||
		!slices.Equal(se.Versions, []string{"v1", "v1alpha3", "v1beta1"}) {
		t.Errorf("ServiceEntry: %+v", *se)
	}
}

// kubectl get shows a CRD's preferred version's printer columns: ServiceEntry's are
// its hosts, location, resolution and age.
func TestKindsCarryThePreferredPrinterColumns(t *testing.T) {
	for _, kind := range apiServerForTest(t).Kinds() {
		if kind.Kind != "ServiceEntry" {
			continue
		}
		var names []string
		for _, column := range kind.Columns {
			names = append(names, column.Name+"="+column.JSONPath)
		}
		got := strings.Join(names, ",")
		if !strings.Contains(got, "Hosts=.spec.hosts") || !strings.Contains(got, "Age=.metadata.creationTimestamp") {
			t.Fatalf("ServiceEntry's columns: %s", got)
		}
		return
	}
	t.Fatal("no ServiceEntry kind")
}

// Validators are built on a version's first create; every one of Istio's CRDs must
// build, or its creates would answer an internal error.
func TestEveryServedVersionsValidatorsBuild(t *testing.T) {
	a, err := NewAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	for _, gvk := range a.order {
		if a.served[gvk].validator != nil {
			t.Fatalf("%v was built before its first create", gvk)
		}
	}
	if err := a.Warm(); err != nil {
		t.Fatal(err)
	}
	for _, gvk := range a.order {
		if a.served[gvk].validator == nil || a.served[gvk].structural == nil {
			t.Fatalf("%v has no validator after Warm", gvk)
		}
	}
}
