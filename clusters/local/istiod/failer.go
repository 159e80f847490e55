package main

import (
	"fmt"
	"log"
	"os"
	"sync"
)

// processFailer is the test.Failer that Istio's xDS harness asks for, for a
// long-running process rather than a test: a fatal error ends the process with one
// line on stderr (which the Python side shows), and cleanups run at shutdown.
type processFailer struct {
	mu       sync.Mutex
	cleanups []func()
	tempDir  string
}

func (f *processFailer) Fail()                           { f.Fatal("failed") }
func (f *processFailer) FailNow()                        { f.Fatal("failed") }
func (f *processFailer) Helper()                         {}
func (f *processFailer) Log(args ...any)                 { log.Print(args...) }
func (f *processFailer) Logf(format string, args ...any) { log.Printf(format, args...) }
func (f *processFailer) Skip(args ...any)                { f.Fatal(append([]any{"skip: "}, args...)...) }

func (f *processFailer) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, "error: istiod harness:", fmt.Sprint(args...))
	os.Exit(1)
}

func (f *processFailer) Fatalf(format string, args ...any) {
	f.Fatal(fmt.Sprintf(format, args...))
}

func (f *processFailer) TempDir() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tempDir == "" {
		dir, err := os.MkdirTemp("", "egress-istiod-")
		if err != nil {
			f.Fatal(err)
		}
		f.tempDir = dir
		f.cleanups = append(f.cleanups, func() { _ = os.RemoveAll(dir) })
	}
	return f.tempDir
}

func (f *processFailer) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// Close runs the cleanups in reverse order, as testing.T does.
func (f *processFailer) Close() {
	f.mu.Lock()
	cleanups := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}
