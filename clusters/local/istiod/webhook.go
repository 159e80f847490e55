package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/webhooks/validation/server"
)

// WebhookName is the validating webhook istiod registers for Istio's config.
const WebhookName = "validation.istio.io"

// Webhook is istiod's validating admission webhook itself (Istio's handler, served
// in-process), so a refusal carries Istio's own words for this version.
type Webhook struct {
	mux *http.ServeMux
}

// NewWebhook builds the handler istiod serves at /validate.
func NewWebhook() (*Webhook, error) {
	mux := http.NewServeMux()
	if _, err := server.New(server.Options{
		Schemas:      collections.Pilot,
		DomainSuffix: "cluster.local",
		Mux:          mux,
	}); err != nil {
		return nil, err
	}
	return &Webhook{mux: mux}, nil
}

// Review sends the object to the webhook as the API server would on create, and
// returns the webhook's denial (nil when allowed) and its warnings.
func (w *Webhook) Review(object map[string]any, kind metav1.GroupVersionKind, namespace, name string) (*metav1.Status, []string, error) {
	raw, err := json.Marshal(object)
	if err != nil {
		return nil, nil, err
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("egress-conformance"),
			Kind:      kind,
			Resource:  metav1.GroupVersionResource{Group: kind.Group, Version: kind.Version},
			Name:      name,
			Namespace: namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return nil, nil, err
	}
	request := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
	request.Header.Set("Content-Type", "application/json")
	recorder := httptest.NewRecorder()
	w.mux.ServeHTTP(recorder, request)
	if recorder.Code != http.StatusOK {
		return nil, nil, fmt.Errorf("the webhook answered HTTP %d: %s", recorder.Code, recorder.Body.String())
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(recorder.Body.Bytes(), &answer); err != nil || answer.Response == nil {
		return nil, nil, fmt.Errorf("the webhook's answer cannot be read: %v", err)
	}
	if answer.Response.Allowed {
		return nil, answer.Response.Warnings, nil
	}
	// The API server wraps a denial this way (the ValidatingAdmissionWebhook plugin's
	// webhookerrors.ToStatusErr): the webhook's own Status (Istio's sets a message and no
	// reason, which kubectl prints as "Error from server: ..."), a code of 400 at least.
	result := metav1.Status{}
	if answer.Response.Result != nil {
		result = *answer.Response.Result
	}
	result.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
	if result.Code < http.StatusBadRequest {
		result.Code = http.StatusBadRequest
	}
	if result.Status == "" || result.Status == metav1.StatusSuccess {
		result.Status = metav1.StatusFailure
	}
	deniedBy := fmt.Sprintf("admission webhook %q denied the request", WebhookName)
	switch {
	case result.Message != "":
		result.Message = fmt.Sprintf("%s: %s", deniedBy, result.Message)
	case result.Reason != "":
		result.Message = fmt.Sprintf("%s: %s", deniedBy, result.Reason)
	default:
		result.Message = deniedBy + " without explanation"
	}
	return &result, answer.Response.Warnings, nil
}
