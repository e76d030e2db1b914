package session_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/session"
	"github.com/outpost-dev/outpost/session/sessiontest"
)

func TestMemoryStoreConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return session.NewMemoryStore(session.MemoryOptions{SweepInterval: 200 * time.Millisecond})
	})
}

func TestMemoryStoreEvictsWhenFull(t *testing.T) {
	var evicted atomic.Int32
	st := session.NewMemoryStore(session.MemoryOptions{MaxSessions: 3, OnEvict: func() { evicted.Add(1) }})
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	for i := range 5 {
		s := &session.Session{ID: fmt.Sprint(i), Sub: "u", ExpiresAt: now.Add(time.Duration(i+1) * time.Hour)}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := st.Len(ctx); n != 3 {
		t.Fatalf("Len = %d, want the bound 3", n)
	}
	if evicted.Load() != 2 {
		t.Errorf("evictions counted = %d, want 2", evicted.Load())
	}
	// The sessions closest to their end go first.
	for id, want := range map[string]bool{"0": false, "1": false, "2": true, "3": true, "4": true} {
		if _, err := st.Get(ctx, id); (err == nil) != want {
			t.Errorf("session %s present=%v, want %v", id, err == nil, want)
		}
	}
	if n, _ := st.DeleteBySub(ctx, "u"); n != 3 {
		t.Errorf("index kept evicted sessions: deleted %d", n)
	}
}

func TestMemoryStoreSweepsExpired(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	st := session.NewMemoryStore(session.MemoryOptions{SweepInterval: 10 * time.Millisecond, Now: now})
	defer st.Close()
	ctx := context.Background()
	_ = st.Save(ctx, &session.Session{ID: "a", SID: "s", ExpiresAt: now().Add(time.Minute)})
	clock.Add(int64(2 * time.Minute))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := st.Len(ctx); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired session never swept")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
