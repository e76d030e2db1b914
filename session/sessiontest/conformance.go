// Package sessiontest is the conformance suite every session.Store passes:
// the memory store here, the Redis store wherever it lives.
package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/session"
)

// Factory makes an empty store. The suite closes it.
type Factory func(t *testing.T) session.Store

func sample(id, sub, sid string, ttl time.Duration) *session.Session {
	now := time.Now()
	return &session.Session{
		ID: id, Provider: "client-a", Sub: sub, SID: sid,
		Claims: map[string]any{
			"sub": sub, "sid": sid, "groups": []any{"ops", "admins"},
			"ak_proxy": map[string]any{"user_attributes": map[string]any{"team": "platform"}},
		},
		AccessToken: "access-" + id, IDToken: "id-" + id, RefreshToken: "refresh-" + id,
		TokenExpiry: now.Add(ttl).Truncate(time.Second), CreatedAt: now.Truncate(time.Second),
		ExpiresAt: now.Add(ttl).Truncate(time.Second),
	}
}

// Run runs the whole suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	ctx := context.Background()
	open := func(t *testing.T) session.Store {
		s := newStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	t.Run("RoundTrip", func(t *testing.T) {
		st := open(t)
		want := sample("id1", "sub1", "sid1", time.Hour)
		if err := st.Save(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := st.Get(ctx, "id1")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || got.Provider != want.Provider || got.Sub != want.Sub || got.SID != want.SID ||
			got.AccessToken != want.AccessToken || got.IDToken != want.IDToken || got.RefreshToken != want.RefreshToken ||
			!got.TokenExpiry.Equal(want.TokenExpiry) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("round trip changed the session:\n got %+v\nwant %+v", got, want)
		}
		if fmt.Sprint(got.Claims) != fmt.Sprint(want.Claims) {
			t.Errorf("claims changed: %v != %v", got.Claims, want.Claims)
		}
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		st := open(t)
		if _, err := st.Get(ctx, "nope"); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("Get(missing) = %v, want ErrNotFound", err)
		}
		if err := st.Delete(ctx, "nope"); err != nil {
			t.Errorf("Delete(missing) = %v", err)
		}
	})

	t.Run("CopiesAreIndependent", func(t *testing.T) {
		st := open(t)
		s := sample("id1", "sub1", "sid1", time.Hour)
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		s.Claims["sub"] = "mallory"
		s.AccessToken = "changed"
		got, _ := st.Get(ctx, "id1")
		got.Claims["groups"] = []any{"root"}
		again, _ := st.Get(ctx, "id1")
		if again.Claims["sub"] != "sub1" || again.AccessToken != "access-id1" || fmt.Sprint(again.Claims["groups"]) != "[ops admins]" {
			t.Errorf("store shares memory with callers: %+v", again)
		}
	})

	t.Run("Replace", func(t *testing.T) {
		st := open(t)
		s := sample("id1", "sub1", "sid1", time.Hour)
		_ = st.Save(ctx, s)
		s.SID, s.AccessToken = "sid2", "new"
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		if n, _ := st.DeleteBySID(ctx, "sid1"); n != 0 {
			t.Errorf("old sid index survived a replace (deleted %d)", n)
		}
		got, err := st.Get(ctx, "id1")
		if err != nil || got.AccessToken != "new" {
			t.Fatalf("after replace: %v %v", got, err)
		}
		if n, _ := st.Len(ctx); n != 1 {
			t.Errorf("Len after replace = %d", n)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		st := open(t)
		_ = st.Save(ctx, sample("short", "sub1", "sid1", 1500*time.Millisecond))
		_ = st.Save(ctx, sample("long", "sub1", "sid1", time.Hour))
		if _, err := st.Get(ctx, "short"); err != nil {
			t.Fatalf("fresh session: %v", err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := st.Get(ctx, "short")
			if errors.Is(err, session.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("expired session still returned (%v)", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := st.Get(ctx, "long"); err != nil {
			t.Errorf("unexpired session lost: %v", err)
		}
		// Saving an already-expired session stores nothing.
		dead := sample("dead", "sub9", "sid9", time.Hour)
		dead.ExpiresAt = time.Now().Add(-time.Second)
		_ = st.Save(ctx, dead)
		if _, err := st.Get(ctx, "dead"); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("expired-on-save session returned: %v", err)
		}
	})

	t.Run("DeleteBySIDAndSub", func(t *testing.T) {
		st := open(t)
		for _, s := range []*session.Session{
			sample("a1", "alice", "core-1", time.Hour),
			sample("a2", "alice", "core-1", time.Hour), // same core session, another provider
			sample("a3", "alice", "core-2", time.Hour),
			sample("b1", "bob", "core-3", time.Hour),
		} {
			if err := st.Save(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.DeleteBySID(ctx, "core-1"); err != nil || n != 2 {
			t.Fatalf("DeleteBySID = %d, %v; want 2", n, err)
		}
		for id, want := range map[string]bool{"a1": false, "a2": false, "a3": true, "b1": true} {
			if _, err := st.Get(ctx, id); (err == nil) != want {
				t.Errorf("after DeleteBySID: %s present=%v, want %v", id, err == nil, want)
			}
		}
		if n, err := st.DeleteBySub(ctx, "alice"); err != nil || n != 1 {
			t.Fatalf("DeleteBySub = %d, %v; want 1", n, err)
		}
		if _, err := st.Get(ctx, "b1"); err != nil {
			t.Errorf("bob's session removed with alice's: %v", err)
		}
		if n, _ := st.DeleteBySID(ctx, ""); n != 0 {
			t.Errorf("empty sid matched %d sessions", n)
		}
		if n, _ := st.DeleteBySub(ctx, ""); n != 0 {
			t.Errorf("empty sub matched %d sessions", n)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		st := open(t)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 100 {
					id := fmt.Sprintf("w%d-%d", w, i)
					_ = st.Save(ctx, sample(id, fmt.Sprintf("sub%d", w), fmt.Sprintf("sid%d", i%5), time.Hour))
					_, _ = st.Get(ctx, id)
					if i%10 == 0 {
						_, _ = st.DeleteBySID(ctx, fmt.Sprintf("sid%d", i%5))
					}
				}
			}()
		}
		wg.Wait()
		if _, err := st.DeleteBySub(ctx, "sub3"); err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			if _, err := st.Get(ctx, fmt.Sprintf("w3-%d", i)); err == nil {
				t.Fatalf("session w3-%d survived DeleteBySub", i)
			}
		}
	})
}
