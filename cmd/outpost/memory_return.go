package main

import (
	"runtime/debug"
	"sync"
	"time"
)

// shrinkDelay is how long after a smaller configuration took over the
// outpost gives the freed memory back: long enough for the requests that
// still hold the old data plane to finish.
const shrinkDelay = 5 * time.Second

// memoryReturner gives the memory of a bigger configuration back to the
// system once a smaller one replaced it. Left to itself the runtime's
// background scavenger returns those pages over minutes, and RSS stays at
// the big configuration's high-water mark meanwhile (the soak saw RSS
// double after 1,000 providers came and went). A forced collection on a
// heap of a few MB costs a few ms, and it happens only when the provider
// count falls.
type memoryReturner struct {
	mu        sync.Mutex
	providers int
	pending   *time.Timer
	free      func() // debug.FreeOSMemory; tests may count calls
}

func newMemoryReturner() *memoryReturner { return &memoryReturner{free: debug.FreeOSMemory} }

// configured notes the configuration now in force.
func (m *memoryReturner) configured(providers int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	shrank := providers < m.providers
	m.providers = providers
	if shrank && m.pending == nil {
		m.pending = time.AfterFunc(shrinkDelay, func() {
			m.mu.Lock()
			m.pending = nil
			m.mu.Unlock()
			m.free()
		})
	}
}
