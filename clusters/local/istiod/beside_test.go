package main

import (
	"errors"
	"testing"
)

func TestBesideHandsBackWhatItsStartReturned(t *testing.T) {
	started := make(chan struct{})
	wait := beside(func() (int, error) {
		close(started)
		return 7, nil
	})
	<-started // it runs without anyone waiting for it
	if value, err := wait(); value != 7 || err != nil {
		t.Fatalf("beside gave %v, %v; want 7, nil", value, err)
	}
	failed := beside(func() (string, error) { return "", errors.New("no CRDs") })
	if _, err := failed(); err == nil || err.Error() != "no CRDs" {
		t.Fatalf("beside gave error %v; want no CRDs", err)
	}
}
