package session

import "sync/atomic"

// The memory store keeps its sessions in an arena of fixed-size chunks of
// entries, addressed by uint32: no pointer per session for the maps, the
// heap and the index chains to hold, and chunks never move, so a slot's
// atomics may be used under the store's read lock.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	// none ends a chain.
	none = ^uint32(0)
)

// Sessions are indexed by the hash of their Sub and of their SID; a
// delete by either checks the record's own value, so a collision of hashes
// never ends the wrong session.
const (
	keySub = iota
	keySID
)

// entry is one stored session.
type entry struct {
	rec string // the record (record.go); "" while the slot is free
	// hot is the decoded session while it is in the cache (memory_hot.go).
	hot     atomic.Pointer[Session]
	expires int64 // ExpiresAt in unix nanoseconds
	// key, next and prev chain the sessions whose Sub (keySub) or SID
	// (keySID) hash alike; keyed is false for an empty Sub or SID.
	key        [2]uint64
	next, prev [2]uint32
	heapPos    uint32 // position in the expiry heap
	provider   uint32 // in the store's providerTable
	used       atomic.Uint32
	keyed      [2]bool
}

type entries struct {
	chunks []*[chunkSize]entry
	free   []uint32
	n      uint32 // slots ever handed out
}

func (a *entries) at(i uint32) *entry { return &a.chunks[i>>chunkBits][i&(chunkSize-1)] }

func (a *entries) alloc() uint32 {
	if n := len(a.free); n > 0 {
		i := a.free[n-1]
		a.free = a.free[:n-1]
		return i
	}
	if int(a.n) == len(a.chunks)*chunkSize {
		a.chunks = append(a.chunks, new([chunkSize]entry))
	}
	a.n++
	return a.n - 1
}

func (a *entries) release(i uint32) { a.free = append(a.free, i) }

// chains links and unlinks entries in the Sub and SID chains; heads maps a
// hash to its chain's first entry.
type chains struct {
	heads [2]map[uint64]uint32
}

func (c *chains) link(a *entries, k int, i uint32, h uint64) {
	e := a.at(i)
	e.key[k], e.keyed[k], e.prev[k], e.next[k] = h, true, none, none
	if head, ok := c.heads[k][h]; ok {
		e.next[k] = head
		a.at(head).prev[k] = i
	}
	c.heads[k][h] = i
}

func (c *chains) unlink(a *entries, k int, i uint32) {
	e := a.at(i)
	if !e.keyed[k] {
		return
	}
	prev, next := e.prev[k], e.next[k]
	switch {
	case prev != none:
		a.at(prev).next[k] = next
	case next != none:
		c.heads[k][e.key[k]] = next
	default:
		delete(c.heads[k], e.key[k])
	}
	if next != none {
		a.at(next).prev[k] = prev
	}
	e.keyed[k] = false
}

// each calls fn for every entry in the chain of hash h.
func (c *chains) each(a *entries, k int, h uint64, fn func(i uint32)) {
	i, ok := c.heads[k][h]
	for ok && i != none {
		next := a.at(i).next[k]
		fn(i)
		i = next
	}
}

// expiryHeap orders entries by expiry, soonest first.
type expiryHeap struct {
	ids []uint32
	a   *entries
}

func (h *expiryHeap) Len() int           { return len(h.ids) }
func (h *expiryHeap) Less(i, j int) bool { return h.a.at(h.ids[i]).expires < h.a.at(h.ids[j]).expires }
func (h *expiryHeap) Swap(i, j int) {
	h.ids[i], h.ids[j] = h.ids[j], h.ids[i]
	h.a.at(h.ids[i]).heapPos = uint32(i)
	h.a.at(h.ids[j]).heapPos = uint32(j)
}
func (h *expiryHeap) Push(x any) {
	i := x.(uint32)
	h.a.at(i).heapPos = uint32(len(h.ids))
	h.ids = append(h.ids, i)
}
func (h *expiryHeap) Pop() any {
	i := h.ids[len(h.ids)-1]
	h.ids = h.ids[:len(h.ids)-1]
	return i
}
