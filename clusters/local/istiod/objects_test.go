package main

import (
	"net/http"
	"strconv"
	"testing"
)

func TestGetShowsTheObjectAsAppliedWithTheServersMetadata(t *testing.T) {
	server := startControl(t)
	get := func() map[string]any {
		t.Helper()
		_, body := call(t, server, "GET", "/resources/serviceentries?namespace=default", "")
		items := body["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("list: %v", items)
		}
		return items[0].(map[string]any)
	}
	if code, body := call(t, server, "POST", "/apply", pageServiceEntryJSON); code != http.StatusOK {
		t.Fatalf("apply: %d %v", code, body)
	}
	first := get()
	spec := first["spec"].(map[string]any)
	if spec["location"] != "MESH_EXTERNAL" { // an enum's zero value, as written
		t.Fatalf("location dropped: %v", spec)
	}
	metadata := first["metadata"].(map[string]any)
	version, err := strconv.Atoi(metadata["resourceVersion"].(string))
	if err != nil || version <= 0 {
		t.Fatalf("resourceVersion %q is not etcd's number", metadata["resourceVersion"])
	}
	created := metadata["creationTimestamp"]
	if created == nil || metadata["uid"] == "" || metadata["generation"] != float64(1) {
		t.Fatalf("metadata %v", metadata)
	}

	call(t, server, "POST", "/apply", pageServiceEntryJSON) // unchanged: nothing moves
	if again := get()["metadata"].(map[string]any); again["resourceVersion"] != metadata["resourceVersion"] {
		t.Fatalf("an unchanged apply moved resourceVersion: %v -> %v", metadata, again)
	}

	changed := `[{"apiVersion":"networking.istio.io/v1","kind":"ServiceEntry",
 "metadata":{"name":"httpbin-ext"},"spec":{"hosts":["httpbin.org"],
 "ports":[{"number":80,"name":"http","protocol":"HTTP"}],"resolution":"DNS"}}]`
	_, body := call(t, server, "POST", "/apply", changed) // location left out: a change
	if action := body["applied"].([]any)[0].(map[string]any)["action"]; action != "configured" {
		t.Fatalf("dropping a field written before: %v", action)
	}
	updated := get()["metadata"].(map[string]any)
	next, _ := strconv.Atoi(updated["resourceVersion"].(string))
	if next <= version || updated["creationTimestamp"] != created || updated["uid"] != metadata["uid"] || updated["generation"] != float64(2) {
		t.Fatalf("after an update: %v (before %v)", updated, metadata)
	}
}

func TestAnObjectInANamespaceThatDoesNotExistIsNotFound(t *testing.T) {
	server := startControl(t)
	document := `[{"apiVersion":"networking.istio.io/v1","kind":"ServiceEntry",
 "metadata":{"name":"x","namespace":"nosuchns"},"spec":{"hosts":["x.example.com"],
 "ports":[{"number":80,"name":"http","protocol":"HTTP"}],"resolution":"DNS"}}]`
	code, body := call(t, server, "POST", "/apply", document)
	status, _ := body["status"].(map[string]any)
	if code != http.StatusNotFound || status["reason"] != "NotFound" || status["message"] != `namespaces "nosuchns" not found` {
		t.Fatalf("apply in nosuchns: %d %v", code, body)
	}
	_, body = call(t, server, "GET", "/resources/serviceentries", "")
	if items := body["items"].([]any); len(items) != 0 {
		t.Fatalf("stored anyway: %v", items)
	}
}
