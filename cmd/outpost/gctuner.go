package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// defaultGCHeadroom is how much garbage the outpost may collect between
// two collections when its live heap is small. With Go's default
// (GOGC=100: collect when the heap has doubled) a proxy whose live heap is
// a few MB collects every couple of hundred requests, and the collector
// took 15–20% of its CPU under load (docs/performance.md). A floor of
// 8 MiB makes collections rare enough while the heap is small and changes
// nothing once the live heap is larger than the floor (a big session
// store): there GOGC=100 applies as usual. Peak RSS under load is about
// the rest of the process plus live heap plus this: 32 MiB cost 57–59 MB
// for no CPU per request the harness could tell from 8 or 10 MiB.
const defaultGCHeadroom = 8 << 20

// gcTuner keeps the collector's goal at least headroom above the live
// heap, by raising the GC percentage after each collection; never below
// 100. An operator's GOGC wins: the tuner does not start when it is set.
// GOMEMLIMIT keeps working as Go documents it (a limit overrides the goal).
type gcTuner struct {
	headroom uint64
	stopped  atomic.Bool
	// percent is the last percentage set (for tests and the log).
	percent atomic.Int64
	sample  []metrics.Sample
}

// startGCTuner starts the tuner unless GOGC is set; it runs for the life
// of the process.
func startGCTuner(getenv func(string) string) *gcTuner {
	if getenv("GOGC") != "" {
		return nil
	}
	t := newGCTuner(defaultGCHeadroom)
	t.arm()
	return t
}

func newGCTuner(headroom uint64) *gcTuner {
	return &gcTuner{headroom: headroom, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
}

// sentinel is garbage whose finalizer runs once per collection that found
// it unreachable: the hook "a collection has just finished".
type sentinel struct{ t *gcTuner }

func (t *gcTuner) arm() {
	s := &sentinel{t: t}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.t.stopped.Load() {
			return
		}
		s.t.adjust()
		s.t.arm()
	})
}

// stop ends the tuning (the percentage stays where it is).
func (t *gcTuner) stop() { t.stopped.Store(true) }

// adjust sets the percentage that puts the next goal at live+headroom.
// The runtime applies the percentage to the live heap plus goroutine
// stacks and globals (the GC's roots), so they count here too; and it never
// sets a goal below its minimum heap, 4 MiB scaled by the percentage, which
// for a base under 4 MiB (an idle process) would put the goal above
// live+headroom: there the percentage is the one that puts that minimum at
// live+headroom instead.
func (t *gcTuner) adjust() {
	metrics.Read(t.sample)
	var v [3]uint64 // live heap, stacks, globals
	for i, s := range t.sample {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	base := 1 + v[0] + v[1] + v[2]
	p := min(t.headroom*100/base, (v[0]+t.headroom)*100/runtimeHeapMinimum)
	p = min(max(100, p), 100000)
	// Only a real change is worth a call (it takes the heap lock).
	if old := t.percent.Load(); old == 0 || int64(p) > old+old/10 || int64(p) < old-old/10 {
		debug.SetGCPercent(int(p))
		t.percent.Store(int64(p))
	}
}

// runtimeHeapMinimum is the runtime's smallest goal at GOGC=100
// (defaultHeapMinimum in runtime/mgcpacer.go), scaled by the percentage.
const runtimeHeapMinimum = 4 << 20
