package session

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Sessions are indexed by 32-bit hashes of their Sub and SID. Two keys
// whose hashes collide share a tag; a delete by one of them must still end
// only its own sessions. A collision is made here by giving bob's session
// alice's tags.
func TestMemoryStoreHashCollisionEndsOnlyItsOwn(t *testing.T) {
	m := NewMemoryStore(MemoryOptions{})
	defer m.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for _, s := range []*Session{
		{ID: "a1", Sub: "alice", SID: "core-a", Provider: "p", ExpiresAt: exp},
		{ID: "b1", Sub: "bob", SID: "core-b", Provider: "p", ExpiresAt: exp},
	} {
		if err := m.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	m.mu.Lock()
	b, _ := m.lookupID("b1")
	for k, key := range map[int]string{keySub: "alice", keySID: "core-a"} {
		m.tables[k].remove(&m.ents, k, b)
		m.ents.at(b).tags[k] = m.tag(key)
		m.tables[k].insert(&m.ents, k, b)
	}
	m.mu.Unlock()
	if n, _ := m.DeleteBySub(ctx, "alice"); n != 1 {
		t.Errorf("DeleteBySub(alice) ended %d sessions, want 1", n)
	}
	if n, _ := m.DeleteBySIDFor(ctx, "p", "core-a"); n != 0 {
		t.Errorf("DeleteBySIDFor(core-a) ended %d sessions, want 0 (alice's is gone)", n)
	}
	if _, err := m.Get(ctx, "b1"); err != nil {
		t.Errorf("bob's session, sharing alice's tags, was ended: %v", err)
	}
	if _, err := m.Get(ctx, "a1"); err == nil {
		t.Error("alice's session survived")
	}
}

// The index table against a plain map, through growth, wrap-around and
// deletes in the middle of runs: tags come from a small set so that runs
// are long and many entries share a tag.
func TestIndexTableAgainstAMap(t *testing.T) {
	var a entries
	var tab indexTable
	want := map[uint32][]uint32{} // tag → entries
	var live []uint32
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(step int) {
		t.Helper()
		for tag, ids := range want {
			var got []uint32
			tab.each(&a, keySub, tag, func(i uint32) bool { got = append(got, i); return true })
			slices.Sort(got)
			if !slices.Equal(got, ids) {
				t.Fatalf("step %d: tag %d finds %v, want %v", step, tag, got, ids)
			}
		}
		if tab.n != len(live) {
			t.Fatalf("step %d: n = %d, want %d", step, tab.n, len(live))
		}
	}
	for step := range 20000 {
		if len(live) == 0 || rng.IntN(3) != 0 {
			i := a.alloc()
			tag := uint32(rng.IntN(64)) + 1
			a.at(i).tags[keySub] = tag
			tab.insert(&a, keySub, i)
			live = append(live, i)
			want[tag] = append(want[tag], i)
			slices.Sort(want[tag])
		} else {
			j := rng.IntN(len(live))
			i := live[j]
			live = slices.Delete(live, j, j+1)
			tag := a.at(i).tags[keySub]
			tab.remove(&a, keySub, i)
			want[tag] = slices.DeleteFunc(want[tag], func(x uint32) bool { return x == i })
			if len(want[tag]) == 0 {
				delete(want, tag)
			}
			a.release(i)
		}
		if step%97 == 0 {
			check(step)
		}
	}
	check(-1)
	if len(tab.slots) < minTableSlots*4 {
		t.Fatalf("the table never grew: %d slots", len(tab.slots))
	}
}
