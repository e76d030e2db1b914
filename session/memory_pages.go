package session

import (
	"encoding/binary"
	"slices"
	"unsafe"
)

// The memory store packs its records into pages. A record of its own
// allocation is rounded up to the allocator's size class (an 820-byte
// record takes 896 bytes) and shares spans with short-lived garbage, which
// keeps those spans resident once the garbage is gone; in a page a record
// costs its length and a length prefix.
//
// A record in a page is never changed once written: a lookup may still be
// decoding one that a Delete has dropped. A page whose records are mostly
// gone is compacted: its live records are copied to the current page and
// the page is left to the garbage collector, which frees it once no lookup
// holds a record in it. Sessions that begin together usually end together,
// so most pages empty whole.
const (
	pageSize = 64 << 10
	// A record bigger than this gets a page of its own.
	pageOwnRecord = pageSize / 4
)

type recordPage struct {
	buf  []byte // records, each after its uvarint length
	live int    // bytes of buf whose records are still stored
}

func (p *recordPage) addr() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(p.buf))) }

// recordPages is the set of pages; guarded by the store's lock.
type recordPages struct {
	byAddr []*recordPage // sorted by address, to find a record's page
	cur    *recordPage   // where small records go
}

// put copies rec into a page; the copy is what the store keeps.
func (ps *recordPages) put(rec string) string {
	if rec == "" {
		return ""
	}
	need := uvarintLen(len(rec)) + len(rec)
	p := ps.cur
	switch {
	case need > pageOwnRecord:
		p = ps.add(need)
	case p == nil || cap(p.buf)-len(p.buf) < need:
		p = ps.add(pageSize)
		ps.cur = p
	}
	p.buf = binary.AppendUvarint(p.buf, uint64(len(rec)))
	off := len(p.buf)
	p.buf = append(p.buf, rec...) // within capacity: the page never moves
	p.live += need
	return unsafe.String(&p.buf[off], len(rec))
}

func (ps *recordPages) add(size int) *recordPage {
	p := &recordPage{buf: make([]byte, 0, size)}
	i, _ := slices.BinarySearchFunc(ps.byAddr, p.addr(), func(q *recordPage, a uintptr) int { return cmpAddr(q.addr(), a) })
	ps.byAddr = slices.Insert(ps.byAddr, i, p)
	return p
}

// release takes rec, from put, out of its page's count and returns the
// page if it is now worth compacting (or dropping, when empty).
func (ps *recordPages) release(rec string) (compact *recordPage) {
	if rec == "" {
		return nil
	}
	at := uintptr(unsafe.Pointer(unsafe.StringData(rec)))
	i, found := slices.BinarySearchFunc(ps.byAddr, at, func(q *recordPage, a uintptr) int { return cmpAddr(q.addr(), a) })
	if !found {
		i-- // the last page that starts before rec
	}
	p := ps.byAddr[i]
	p.live -= uvarintLen(len(rec)) + len(rec)
	if p == ps.cur && p.live > 0 {
		return nil
	}
	if p.live*2 < len(p.buf) {
		ps.byAddr = slices.Delete(ps.byAddr, i, i+1)
		if p == ps.cur {
			ps.cur = nil
		}
		return p
	}
	return nil
}

// each calls fn with every record ever put in p, live or not.
func (p *recordPage) each(fn func(rec string)) {
	for off := 0; off < len(p.buf); {
		n, w := binary.Uvarint(p.buf[off:])
		off += w
		fn(unsafe.String(&p.buf[off], int(n)))
		off += int(n)
	}
}

// bytes is the memory the pages hold.
func (ps *recordPages) bytes() (held, live int) {
	for _, p := range ps.byAddr {
		held += cap(p.buf)
		live += p.live
	}
	return held, live
}

func cmpAddr(a, b uintptr) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}
