package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// unset removes an environment variable for the test's length (t.Setenv restores it).
func unset(t *testing.T, name string) {
	t.Setenv(name, "")
	_ = os.Unsetenv(name)
}

func TestStartGCTakesTheTargetTheStarterGives(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv(gcAfterStartEnv, "150")
	after, err := startGC()
	if err != nil || after != 150 {
		t.Fatalf("startGC() = %d, %v; want 150, nil", after, err)
	}
}

func TestStartGCRefusesATargetThatIsNotOne(t *testing.T) {
	t.Setenv(gcAfterStartEnv, "lots")
	if _, err := startGC(); err == nil {
		t.Fatal("startGC() accepted a target that is not a percentage")
	}
}

func TestStartGCLeavesTheUsersGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	unset(t, gcAfterStartEnv)
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	after, err := startGC()
	if err != nil || after != -1 {
		t.Fatalf("startGC() = %d, %v; want -1 (the user's GOGC rules), nil", after, err)
	}
	if got := debug.SetGCPercent(50); got != 50 {
		t.Fatalf("the GC target became %d; the user's 50 should stay", got)
	}
}

func TestStartGCCollectsLessUntilReady(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	unset(t, "GOGC")
	unset(t, gcAfterStartEnv)
	after, err := startGC()
	if err != nil || after != 100 {
		t.Fatalf("startGC() = %d, %v; want 100, nil", after, err)
	}
	if got := debug.SetGCPercent(100); got != startGCPercent {
		t.Fatalf("the start's GC target is %d; want %d", got, startGCPercent)
	}
}
