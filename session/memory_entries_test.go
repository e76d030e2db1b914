package session

import (
	"context"
	"hash/maphash"
	"testing"
	"time"
)

// Sessions are chained by the hash of their Sub and SID. Two keys whose
// hashes collide share a chain; a delete by one of them must still end only
// its own sessions. A collision is made here by moving bob's session into
// alice's chain.
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
	b := m.byID["b1"]
	for k, key := range []string{"alice", "core-a"} {
		m.keys.unlink(&m.ents, k, b)
		m.keys.link(&m.ents, k, b, maphash.String(m.seed, key))
	}
	m.mu.Unlock()
	if n, _ := m.DeleteBySub(ctx, "alice"); n != 1 {
		t.Errorf("DeleteBySub(alice) ended %d sessions, want 1", n)
	}
	if n, _ := m.DeleteBySIDFor(ctx, "p", "core-a"); n != 0 {
		t.Errorf("DeleteBySIDFor(core-a) ended %d sessions, want 0 (alice's is gone)", n)
	}
	if _, err := m.Get(ctx, "b1"); err != nil {
		t.Errorf("bob's session, sharing alice's chains, was ended: %v", err)
	}
	if _, err := m.Get(ctx, "a1"); err == nil {
		t.Error("alice's session survived")
	}
}
