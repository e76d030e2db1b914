package session_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/session"
)

// ended records the ids a store's watchers are told of.
type ended struct {
	mu  sync.Mutex
	ids []string
}

func watchEnds(st *session.MemoryStore) *ended {
	e := &ended{}
	st.OnRevoke(func(ids []string) {
		e.mu.Lock()
		e.ids = append(e.ids, ids...)
		e.mu.Unlock()
	})
	return e
}

func (e *ended) has(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.ids, id)
}

// One account signing in again and again ends only its own oldest
// sessions, at that provider; everyone else's stay (issue 20).
func TestMemoryStoreCapsSessionsPerSubject(t *testing.T) {
	var evicted atomic.Int32
	st := session.NewMemoryStore(session.MemoryOptions{MaxSessions: 100, MaxSessionsPerSubject: 3, OnEvict: func() { evicted.Add(1) }})
	defer st.Close()
	ends := watchEnds(st)
	ctx := context.Background()
	now := time.Now()
	save := func(id, provider, sub string, ttl time.Duration) {
		t.Helper()
		if err := st.Save(ctx, &session.Session{ID: id, Provider: provider, Sub: sub, ExpiresAt: now.Add(ttl)}); err != nil {
			t.Fatal(err)
		}
	}
	save("bob", "p", "bob", time.Hour)
	save("mallory-at-q", "q", "mallory", time.Hour)
	for i := range 10 {
		save(fmt.Sprint("m", i), "p", "mallory", time.Duration(i+1)*time.Hour)
	}
	// Saving an existing session again (a refresh) is not a new one.
	save("m9", "p", "mallory", 20*time.Hour)
	for id, want := range map[string]bool{"bob": true, "mallory-at-q": true, "m6": false, "m7": true, "m8": true, "m9": true} {
		t.Run(id, func(t *testing.T) {
			if _, err := st.Get(ctx, id); (err == nil) != want {
				t.Errorf("present=%v, want %v", err == nil, want)
			}
		})
	}
	if n, _ := st.Len(ctx); n != 5 {
		t.Errorf("Len = %d, want 5", n)
	}
	if evicted.Load() != 7 || !ends.has("m0") || !ends.has("m6") || ends.has("bob") {
		t.Errorf("evictions %d, told of %v", evicted.Load(), ends.ids)
	}
}

// Sessions the store ends itself, for room or by the sweep, are told to
// its watchers like revocations, so their websockets close.
func TestMemoryStoreTellsOfEvictionAndSweep(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	st := session.NewMemoryStore(session.MemoryOptions{MaxSessions: 2, SweepInterval: 10 * time.Millisecond, Now: now})
	defer st.Close()
	ends := watchEnds(st)
	ctx := context.Background()
	for i, ttl := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		if err := st.Save(ctx, &session.Session{ID: fmt.Sprint("s", i), Sub: fmt.Sprint("u", i), ExpiresAt: now().Add(ttl)}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("eviction", func(t *testing.T) {
		if !ends.has("s0") || ends.has("s1") {
			t.Errorf("told of %v, want s0", ends.ids)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		clock.Add(int64(150 * time.Minute))
		deadline := time.Now().Add(5 * time.Second)
		for !ends.has("s1") {
			if time.Now().After(deadline) {
				t.Fatalf("the sweep of s1 was never told; told of %v", ends.ids)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if ends.has("s2") {
			t.Error("told of s2, which is alive")
		}
	})
}
