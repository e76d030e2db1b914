package session

import "sync/atomic"

// memoryEntry is one stored session. Its id, sub, sid and provider are read
// from the record when needed (keys) rather than kept beside it: at 100,000
// sessions each string kept twice costs megabytes.
type memoryEntry struct {
	rec     string // the record (record.go); never changed
	expires int64  // ExpiresAt in unix nanoseconds; never changed
	// Guarded by the store's lock: the positions in the expiry heap and
	// in the cache (-1 when not decoded), and the neighbours in the lists
	// of the entry's sub (links[bySub]) and sid (links[bySID]).
	heapAt  int32
	cacheAt int32
	links   [2]struct{ prev, next *memoryEntry }
	// decoded is the session while it is in the cache (memory_cache.go);
	// used is set by a lookup that found it there.
	decoded atomic.Pointer[Session]
	used    atomic.Bool
}

func newMemoryEntry(rec string, expires int64) *memoryEntry {
	return &memoryEntry{rec: rec, expires: expires, cacheAt: -1}
}

// keys are the entry's keys, slices of its record. The store's records
// are all encodeRecord's, so they read.
func (e *memoryEntry) keys() recordKeys {
	k, _, _ := readRecordKeys(e.rec)
	return k
}

// Which key a keyIndex lists entries by.
const (
	bySub = iota
	bySID
)

func (k recordKeys) by(which int) string {
	if which == bySub {
		return k.sub
	}
	return k.sid
}

// keyIndex lists the stored entries of each Sub (or SID): sign-out ends
// every session of a sub, SESSION_END every session of a sid. An empty key
// is in no list. A list is linked through its entries (memoryEntry.links),
// so an entry leaves it in O(1) however long it is.
type keyIndex struct {
	which int
	// heads is keyed by a slice of the head's own record, so that the map
	// never keeps a removed record alive.
	heads map[string]*memoryEntry
}

// add puts e first in its key's list.
func (x *keyIndex) add(e *memoryEntry, k recordKeys) {
	key := k.by(x.which)
	if key == "" {
		return
	}
	if next := x.heads[key]; next != nil {
		e.links[x.which].next = next
		next.links[x.which].prev = e
		delete(x.heads, key) // an assignment would keep the old head's key
	}
	x.heads[key] = e
}

func (x *keyIndex) remove(e *memoryEntry, k recordKeys) {
	key := k.by(x.which)
	if key == "" {
		return
	}
	l := &e.links[x.which]
	if l.next != nil {
		l.next.links[x.which].prev = l.prev
	}
	if l.prev != nil {
		l.prev.links[x.which].next = l.next
	} else {
		delete(x.heads, key)
		if l.next != nil {
			x.heads[l.next.keys().by(x.which)] = l.next
		}
	}
	*l = struct{ prev, next *memoryEntry }{}
}

// each calls fn for every entry listed under key; fn must not change the list.
func (x *keyIndex) each(key string, fn func(e *memoryEntry)) {
	for e := x.heads[key]; e != nil; e = e.links[x.which].next {
		fn(e)
	}
}

// expiryHeap orders entries by expiry, soonest first (container/heap).
type expiryHeap []*memoryEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapAt, h[j].heapAt = int32(i), int32(j)
}

func (h *expiryHeap) Push(x any) {
	e := x.(*memoryEntry)
	e.heapAt = int32(len(*h))
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
