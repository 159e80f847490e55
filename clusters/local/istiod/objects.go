package main

import (
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
)

// storedObjects is what the API server keeps of each Istio config: the object as it
// was admitted, with the user's fields as written (enum zero values such as
// `location: MESH_EXTERNAL` or a Sidecar's `mode: REGISTRY_ONLY` included, which a
// round trip through the config's protobuf drops), and the metadata the server sets.
// `kubectl get -o yaml` prints this, as it prints etcd's copy on a cluster.
//
// resourceVersion comes from one counter, as etcd's revision does: a number, moved
// only when an object changes. creationTimestamp and uid stay through updates;
// generation moves when the spec changes. The zero value is ready for use.
type storedObjects struct {
	mu       sync.Mutex
	revision int64
	objects  map[objectKey]map[string]any
}

type objectKey struct{ group, kind, namespace, name string }

// serverFields are the metadata fields the API server owns: a manifest's values for
// them are not stored.
var serverFields = []string{"creationTimestamp", "resourceVersion", "uid", "generation", "managedFields", "selfLink"}

// changed says whether document differs from the stored object in what kubectl apply
// sends (spec, labels and annotations); a missing object has changed.
func (s *storedObjects) changed(key objectKey, document map[string]any) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	stored, found := s.objects[key]
	if !found {
		return true
	}
	given := jsonCopy(document)
	for _, field := range []string{"labels", "annotations"} {
		if !reflect.DeepEqual(metadataOf(stored)[field], metadataOf(given)[field]) {
			return true
		}
	}
	return !reflect.DeepEqual(stored["spec"], given["spec"])
}

// put stores document as the object for key after a create (created) or an update.
func (s *storedObjects) put(key objectKey, document map[string]any, created bool, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects = map[objectKey]map[string]any{}
	}
	object := jsonCopy(document)
	metadata := metadataOf(object)
	for _, field := range serverFields {
		delete(metadata, field)
	}
	previous, found := s.objects[key]
	found = found && !created // a create after a delete by another path is a new object
	generation := int64(1)
	if found {
		before := metadataOf(previous)
		metadata["creationTimestamp"] = before["creationTimestamp"]
		metadata["uid"] = before["uid"]
		generation, _ = before["generation"].(int64)
		if !reflect.DeepEqual(previous["spec"], object["spec"]) {
			generation++
		}
	} else {
		metadata["creationTimestamp"] = now.UTC().Format(time.RFC3339)
		metadata["uid"] = string(uuid.NewUUID())
	}
	s.revision++
	metadata["generation"] = generation
	metadata["resourceVersion"] = strconv.FormatInt(s.revision, 10)
	object["metadata"] = metadata
	s.objects[key] = object
}

// get is a copy of the stored object for key, if there is one.
func (s *storedObjects) get(key objectKey) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	object, found := s.objects[key]
	if !found {
		return nil, false
	}
	copied := jsonCopy(object)
	metadataOf(copied)["generation"] = metadataOf(object)["generation"]
	return copied, true
}

// remove forgets the object for key (after a delete).
func (s *storedObjects) remove(key objectKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
}

func metadataOf(object map[string]any) map[string]any {
	metadata, _ := object["metadata"].(map[string]any)
	if metadata == nil {
		metadata = map[string]any{}
		object["metadata"] = metadata
	}
	return metadata
}

// jsonCopy is a deep copy through JSON, the form the API server stores.
func jsonCopy(object map[string]any) map[string]any {
	raw, _ := json.Marshal(object)
	var copied map[string]any
	_ = json.Unmarshal(raw, &copied)
	return copied
}
