package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestARenderIsKeptOnDiskForTheNextProcess(t *testing.T) {
	dir := t.TempDir()
	chartCache = dir
	t.Cleanup(func() { chartCache = "" })
	flags := []string{"profile=default", "values.global.proxy.includeIPRanges=198.51.100.0/24"}
	first, err := renderCharts(nil, flags, "")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("want one kept render in %s, found %v", dir, files)
	}
	// The next process: nothing in memory, the kept render on disk.
	rendered.Lock()
	clear(rendered.objects)
	rendered.Unlock()
	again, err := renderCharts(nil, flags, "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Fatal("the render read back from disk differs from the one written")
	}
	other, err := renderCharts(nil, []string{"profile=default"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(first, other) {
		t.Fatal("different --set values gave the same render")
	}
	files, _ = filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 2 {
		t.Fatalf("want a render per distinct input, found %v", files)
	}
}

func TestADamagedKeptRenderIsRenderedAgain(t *testing.T) {
	dir := t.TempDir()
	chartCache = dir
	t.Cleanup(func() { chartCache = "" })
	flags := []string{"profile=default", "values.global.proxy.excludeIPRanges=203.0.113.0/24"}
	want, err := renderNow(nil, flags, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := renderCharts(nil, flags, ""); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("want one kept render, found %v", files)
	}
	if err := os.WriteFile(files[0], []byte("{truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	rendered.Lock()
	clear(rendered.objects)
	rendered.Unlock()
	got, err := renderCharts(nil, flags, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("a damaged kept render gave %d objects, a render %d", len(got), len(want))
	}
}
