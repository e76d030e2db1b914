package session

import "sync/atomic"

// The memory store keeps its sessions in an arena of fixed-size chunks of
// entries, addressed by uint32: no pointer per session for the tables and
// the heap to hold, and chunks never move, so a slot's atomics may be used
// under the store's read lock.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
)

// What an entry is found by: its id, and the hash of its Sub and of its SID.
// A lookup by any of them checks the record's own value, so a collision of
// hashes never finds the wrong session.
const (
	keyID = iota
	keySub
	keySID
)

// entry is one stored session.
type entry struct {
	rec string // the record (record.go); "" while the slot is free
	// hot is the decoded session while it is in the cache (memory_hot.go).
	hot     atomic.Pointer[Session]
	expires int64 // ExpiresAt in unix nanoseconds
	// tags are the 32-bit hashes of the id, the Sub and the SID that place
	// the entry in the store's index tables; 0 for an empty Sub or SID,
	// which is in no table.
	tags     [3]uint32
	heapPos  uint32 // position in the expiry heap
	provider uint32 // in the store's providerTable
	used     atomic.Uint32
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

// indexTable finds entries by one of their tags: open addressing with
// linear probing, each slot an entry index + 1 (0 is empty), the tag read
// from the entry itself. Four bytes a slot instead of a map's key and
// value: at a million sessions, a map keyed by id costs about 40 bytes per
// session and one keyed by hash about 25. Several entries may share a tag
// (one person's sessions share a Sub); deletes shift the following slots
// back, so there are no tombstones. Guarded by the store's lock.
type indexTable struct {
	slots []uint32
	n     int
	shift uint8 // 32 - log2(len(slots))
}

const minTableSlots = 16

func (t *indexTable) home(tag uint32) int { return int((tag * 0x9E3779B9) >> t.shift) }

// full says one more insert would fill the table past three quarters,
// where probe runs grow long.
func (t *indexTable) full() bool { return (t.n+1)*4 > len(t.slots)*3 }

// insert adds entry i under its tag k.
func (t *indexTable) insert(a *entries, k int, i uint32) {
	if t.full() {
		*t = t.rebuilt(a, k, max(len(t.slots)*2, minTableSlots))
	}
	t.place(a.at(i).tags[k], i)
	t.n++
}

func (t *indexTable) place(tag, i uint32) {
	mask := len(t.slots) - 1
	p := t.home(tag)
	for t.slots[p] != 0 {
		p = (p + 1) & mask
	}
	t.slots[p] = i + 1
}

// rebuilt is a copy of t with size slots; t is left as it is.
func (t *indexTable) rebuilt(a *entries, k int, size int) indexTable {
	r := indexTable{slots: make([]uint32, size), n: t.n, shift: uint8(32 - log2(size))}
	for _, s := range t.slots {
		if s != 0 {
			r.place(a.at(s - 1).tags[k], s-1)
		}
	}
	return r
}

func log2(n int) int {
	b := 0
	for n > 1 {
		n >>= 1
		b++
	}
	return b
}

// remove takes entry i out; its tag k must be what it was inserted with.
func (t *indexTable) remove(a *entries, k int, i uint32) {
	if len(t.slots) == 0 {
		return
	}
	mask := len(t.slots) - 1
	hole := t.home(a.at(i).tags[k])
	for t.slots[hole] != i+1 {
		if t.slots[hole] == 0 {
			return // not in the table
		}
		hole = (hole + 1) & mask
	}
	// Move back every following slot of the run whose home is not
	// between the hole and itself: a lookup from its home would
	// otherwise stop at the hole.
	for j := (hole + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		h := t.home(a.at(t.slots[j] - 1).tags[k])
		if (j > hole && (h <= hole || h > j)) || (j < hole && h <= hole && h > j) {
			t.slots[hole] = t.slots[j]
			hole = j
		}
	}
	t.slots[hole] = 0
	t.n--
}

// each calls fn for every entry whose tag k is tag, until fn returns false.
func (t *indexTable) each(a *entries, k int, tag uint32, fn func(i uint32) bool) {
	if len(t.slots) == 0 {
		return
	}
	mask := len(t.slots) - 1
	for p := t.home(tag); t.slots[p] != 0; p = (p + 1) & mask {
		i := t.slots[p] - 1
		if a.at(i).tags[k] == tag && !fn(i) {
			return
		}
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
