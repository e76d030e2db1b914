package session

import "sync"

// DefaultMemoryCacheSize is how many decoded sessions a memory store keeps
// when MemoryOptions.CacheSize is 0.
const DefaultMemoryCacheSize = 10000

// decodedCache bounds how many entries hold their session decoded
// (memoryEntry.decoded), so that recently used sessions are looked up
// without decoding while the rest stay records. Eviction is CLOCK: a hit
// marks its entry used (one atomic store, only when not yet marked), which
// needs no lock; the hand passing a marked entry clears the mark and
// spares it once, an unmarked one loses its decoded session.
type decodedCache struct {
	mu    sync.Mutex
	size  int
	slots []*memoryEntry // nil: free (its entry was removed)
	hand  int
}

// add records that e now holds its session decoded, taking another
// entry's place when full. Called with the store's read lock held.
func (c *decodedCache) add(e *memoryEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.slots) < c.size {
		e.cacheAt = int32(len(c.slots))
		c.slots = append(c.slots, e)
		return
	}
	// Two turns always find a place, however busy the hits are.
	for spared := 0; ; spared++ {
		at := c.hand
		c.hand = (c.hand + 1) % len(c.slots)
		v := c.slots[at]
		if v != nil && spared < 2*len(c.slots) && v.used.Swap(false) {
			continue // used since the hand last came by: spared once
		}
		if v != nil {
			v.decoded.Store(nil)
			v.cacheAt = -1
		}
		c.slots[at] = e
		e.cacheAt = int32(at)
		return
	}
}

// drop takes e's decoded session out, never to be served again. Called
// with the store's write lock held, so no add runs meanwhile.
func (c *decodedCache) drop(e *memoryEntry) {
	e.decoded.Store(nil)
	if e.cacheAt >= 0 {
		c.mu.Lock()
		c.slots[e.cacheAt] = nil
		c.mu.Unlock()
		e.cacheAt = -1
	}
}
