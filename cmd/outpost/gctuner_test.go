package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// gcPercent reads the collector's percentage without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// collectUntil runs collections until the tuner has acted (its hook runs
// after a collection, on the finalizer goroutine).
func collectUntil(t *testing.T, tu *gcTuner, ok func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if p := tu.percent.Load(); ok(p) {
			return p
		}
	}
	t.Fatalf("tuner did not act; percent %d", tu.percent.Load())
	return 0
}

func TestGCTunerKeepsHeadroomAboveASmallHeap(t *testing.T) {
	prev := gcPercent()
	defer debug.SetGCPercent(prev)

	tu := newGCTuner(64 << 20)
	tu.arm()
	defer tu.stop()
	// The test binary's live heap is a few MB: the goal must be raised well
	// past GOGC=100, and be what the runtime uses.
	p := collectUntil(t, tu, func(p int64) bool { return p > 100 })
	if p < 400 || gcPercent() != int(p) {
		t.Errorf("percent %d (runtime %d) for a small heap and 64 MiB headroom", p, gcPercent())
	}

	// A live heap larger than the headroom: back to GOGC=100, never below.
	big := make([]byte, 160<<20)
	big[len(big)-1] = 1
	collectUntil(t, tu, func(p int64) bool { return p == 100 })
	if gcPercent() != 100 {
		t.Errorf("runtime percent %d with a live heap above the headroom", gcPercent())
	}
	runtime.KeepAlive(big)
}

// The default headroom is what the heap may grow to above the live heap
// before the next collection: peak RSS under load is about the process's
// other memory plus live heap plus this (docs/performance.md). The
// runtime's own goal must say so.
func TestGCTunerDefaultGoal(t *testing.T) {
	prev := gcPercent()
	defer debug.SetGCPercent(prev)

	tu := newGCTuner(defaultGCHeadroom)
	tu.arm()
	defer tu.stop()
	collectUntil(t, tu, func(p int64) bool { return p > 100 })
	deadline := time.Now().Add(5 * time.Second)
	var room float64
	for time.Now().Before(deadline) {
		s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		room = float64(s[0].Value.Uint64()) - float64(s[1].Value.Uint64())
		// The tuner leaves changes of less than a tenth alone.
		if room > 0.85*defaultGCHeadroom && room < 1.15*defaultGCHeadroom {
			return
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("heap goal %.1f MiB above the live heap, want about %d MiB", room/(1<<20), defaultGCHeadroom>>20)
}

func TestGCTunerLeavesAnOperatorsGOGC(t *testing.T) {
	env := map[string]string{"GOGC": "50"}
	if tu := startGCTuner(func(k string) string { return env[k] }); tu != nil {
		tu.stop()
		t.Error("tuner started although GOGC is set")
	}
}
