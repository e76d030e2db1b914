package session

import "sync"

// DefaultMemoryCacheSize is how many decoded sessions a memory store keeps
// when MemoryOptions.CacheSize is 0.
const DefaultMemoryCacheSize = 10000

// hotCache bounds how many entries hold a decoded session (entry.hot), so
// that recently used sessions are looked up without decoding while the
// rest stay compact records. Eviction is CLOCK: a hit marks its entry
// used (one atomic store, only when not yet marked); the hand passing a
// marked entry clears the mark and spares it once, an unmarked one loses
// its decoded session.
//
// Slots may go stale when their entry is deleted, replaced or reused; the
// hand recognises them (the entry holds another session, or none) and
// takes them first. A stale slot is never served: Get reads entry.hot,
// which the store clears under its write lock.
type hotCache struct {
	mu    sync.Mutex
	size  int
	slots []hotSlot
	hand  int
}

type hotSlot struct {
	i uint32
	s *Session
}

// add records that entry i now holds s decoded, evicting another entry's
// decoded session when full. Called with the store's read lock held, so
// entries neither move nor get reused meanwhile.
func (c *hotCache) add(a *entries, i uint32, s *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.slots) < c.size {
		c.slots = append(c.slots, hotSlot{i, s})
		return
	}
	// Two turns always find a victim, however busy the hits are.
	for spared := 0; ; spared++ {
		sl := &c.slots[c.hand]
		c.hand = (c.hand + 1) % len(c.slots)
		e := a.at(sl.i)
		live := e.hot.Load() == sl.s
		if live && spared < 2*len(c.slots) && e.used.Swap(0) != 0 {
			continue // used since the hand last came by: spared once
		}
		if live {
			e.hot.CompareAndSwap(sl.s, nil)
		}
		*sl = hotSlot{i, s}
		return
	}
}
