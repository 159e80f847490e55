package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"istio.io/istio/operator/pkg/render"
)

// Rendering Istio's charts (operator/pkg/render, as `istioctl install` does) takes
// about a third of a second per render, and a binary always renders the same charts:
// they are embedded in it. So each render is kept by its inputs, in memory and, when
// --render-cache names a directory (the build's cache directory), on disk for the next
// process of the same build.

// renderMu serialises chart renders (the installer's and the injector's): Helm's
// rendering and the operator's logging are not known to be safe to run twice at once.
var renderMu sync.Mutex

// chartCache is the directory renders are kept in across processes ("" keeps them in
// memory only).
var chartCache string

var rendered = struct {
	sync.Mutex
	objects map[string][]map[string]any
}{objects: map[string][]map[string]any{}}

// renderCharts renders Istio's charts with an IstioOperator overlay (nil for none,
// else written for the render into dir, the run's own) and --set flags, and returns
// every manifest object, in the order rendered.
func renderCharts(overlay []byte, flags []string, dir string) ([]map[string]any, error) {
	digest := sha256.Sum256([]byte(string(overlay) + "\x00" + strings.Join(flags, "\n")))
	key := hex.EncodeToString(digest[:])
	rendered.Lock()
	objects, found := rendered.objects[key]
	rendered.Unlock()
	if found {
		return objects, nil
	}
	path := ""
	if chartCache != "" {
		path = filepath.Join(chartCache, key+".json")
		if objects, err := readRender(path); err == nil {
			rendered.Lock()
			rendered.objects[key] = objects
			rendered.Unlock()
			return objects, nil
		}
	}
	objects, err := renderNow(overlay, flags, dir)
	if err != nil {
		return nil, err
	}
	rendered.Lock()
	rendered.objects[key] = objects
	rendered.Unlock()
	if path != "" {
		writeRender(path, objects) // a cache: a write that fails costs the next process a render
	}
	return objects, nil
}

func renderNow(overlay []byte, flags []string, dir string) ([]map[string]any, error) {
	var files []string
	if overlay != nil {
		file, err := os.CreateTemp(dir, "istio-operator-*.yaml")
		if err != nil {
			return nil, err
		}
		defer os.Remove(file.Name())
		if _, err := file.Write(overlay); err != nil {
			file.Close()
			return nil, err
		}
		if err := file.Close(); err != nil {
			return nil, err
		}
		files = []string{file.Name()}
	}
	renderMu.Lock()
	sets, _, err := render.GenerateManifest(files, flags, false, nil, nil)
	renderMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("rendering Istio's charts: %v", err)
	}
	var objects []map[string]any
	for _, set := range sets {
		for _, object := range set.Manifests {
			objects = append(objects, object.Object)
		}
	}
	// As JSON gives them back, so that a render kept in memory and one read from disk
	// are the same values (JSON has one number type).
	text, err := json.Marshal(objects)
	if err != nil {
		return nil, err
	}
	objects = nil
	return objects, json.Unmarshal(text, &objects)
}

func readRender(path string) ([]map[string]any, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var objects []map[string]any
	if err := json.Unmarshal(text, &objects); err != nil {
		return nil, err
	}
	return objects, nil
}

// writeRender writes atomically: processes of the same build may start together.
func writeRender(path string, objects []map[string]any) {
	text, err := json.Marshal(objects)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	file, err := os.CreateTemp(filepath.Dir(path), ".render-*")
	if err != nil {
		return
	}
	_, err = file.Write(text)
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(file.Name(), path)
	}
	if err != nil {
		_ = os.Remove(file.Name())
	}
}
