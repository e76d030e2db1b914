package session

import "sync/atomic"

// memoryEntry is one stored session. Its id, sub, sid and provider are read
// from the record when needed (keys) rather than kept beside it: at 100,000
// sessions each string kept twice costs megabytes.
type memoryEntry struct {
	rec     string // the record (record.go); never changed
	expires int64  // ExpiresAt in unix nanoseconds; never changed
	// Positions, guarded by the store's lock: in the expiry heap, in the
	// bySub and bySID lists (-1 when not listed), in the cache (-1 when
	// not decoded).
	heapAt  int32
	indexAt [2]int32
	cacheAt int32
	// decoded is the session while it is in the cache (memory_cache.go);
	// used is set by a lookup that found it there.
	decoded atomic.Pointer[Session]
	used    atomic.Bool
}

func newMemoryEntry(rec string, expires int64) *memoryEntry {
	return &memoryEntry{rec: rec, expires: expires, indexAt: [2]int32{-1, -1}, cacheAt: -1}
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
// is in no list. Each entry knows its position, so it leaves in O(1).
type keyIndex struct {
	which int
	// lists is keyed by a slice of one listed entry's record: re-keyed
	// when that one may be the entry leaving, so that the map never keeps
	// a removed record alive.
	lists map[string][]*memoryEntry
}

func (x *keyIndex) add(e *memoryEntry, k recordKeys) {
	key := k.by(x.which)
	if key == "" {
		return
	}
	l := x.lists[key]
	e.indexAt[x.which] = int32(len(l))
	x.lists[key] = append(l, e)
}

func (x *keyIndex) remove(e *memoryEntry, k recordKeys) {
	at := e.indexAt[x.which]
	if at < 0 {
		return
	}
	key := k.by(x.which)
	l := x.lists[key]
	last := len(l) - 1
	l[at] = l[last]
	l[at].indexAt[x.which] = at
	l[last] = nil
	l = l[:last]
	e.indexAt[x.which] = -1
	delete(x.lists, key)
	if len(l) > 0 {
		x.lists[l[0].keys().by(x.which)] = l
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
