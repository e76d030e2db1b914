package main

import (
	"sync/atomic"
	"testing"
	"time"
)

// Memory goes back once when the configuration shrinks, not on growth or
// on a refresh that changes nothing, and several shrinks in a row share
// one collection.
func TestMemoryReturnedWhenConfigurationShrinks(t *testing.T) {
	var calls atomic.Int32
	m := &memoryReturner{free: func() { calls.Add(1) }}
	for _, n := range []int{2, 1001, 1001} {
		m.configured(n)
	}
	time.Sleep(shrinkDelay + time.Second)
	if got := calls.Load(); got != 0 {
		t.Fatalf("%d collections while the configuration only grew or stayed", got)
	}
	m.configured(500)
	m.configured(2)
	deadline := time.Now().Add(shrinkDelay + 5*time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if got := calls.Load(); got != 1 {
		t.Fatalf("%d collections after two shrinks in a row, want 1", got)
	}
}
