// Package sessiontest is the conformance suite every session.Store passes:
// the memory store here, the Redis store wherever it lives.
package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
			// What step-up reads (docs/step-up.md): it must come back as
			// JSON decodes it, a float64 and a string, from every store.
			"auth_time": float64(now.Add(-time.Minute).Unix()), "acr": "mfa",
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
		if at, _ := got.Claims["auth_time"].(float64); at != want.Claims["auth_time"] || got.Claims["acr"] != "mfa" {
			t.Errorf("auth_time or acr changed: %v (%T) %v", got.Claims["auth_time"], got.Claims["auth_time"], got.Claims["acr"])
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

	t.Run("SaveKeepsACopy", func(t *testing.T) {
		st := open(t)
		s := sample("id1", "sub1", "sid1", time.Hour)
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
		// The caller's changes after Save never reach the store.
		s.Claims["sub"] = "mallory"
		s.Claims["groups"].([]any)[0] = "root"
		s.AccessToken = "changed"
		got, _ := st.Get(ctx, "id1")
		if got.Claims["sub"] != "sub1" || got.AccessToken != "access-id1" || fmt.Sprint(got.Claims["groups"]) != "[ops admins]" {
			t.Errorf("store shares memory with the caller of Save: %+v", got)
		}
		// Get's result is read-only; a Clone is the caller's own.
		c := got.Clone()
		c.Claims["groups"].([]any)[0] = "root"
		c.Claims["sub"] = "mallory"
		again, _ := st.Get(ctx, "id1")
		if again.Claims["sub"] != "sub1" || fmt.Sprint(again.Claims["groups"]) != "[ops admins]" {
			t.Errorf("a Clone shares memory with the store: %+v", again)
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

	// A step-up updates a session in place with SaveIfExists, and the new
	// sign-in may carry another sid: the old sid's SESSION_END must not
	// end it, the new one's must.
	t.Run("ReplaceIfExistsMovesTheSID", func(t *testing.T) {
		st := open(t)
		s := sample("id1", "sub1", "sid1", time.Hour)
		_ = st.Save(ctx, s)
		s.SID, s.Claims["auth_time"] = "sid2", float64(time.Now().Unix())
		if saved, err := st.SaveIfExists(ctx, s); err != nil || !saved {
			t.Fatalf("SaveIfExists = %v, %v", saved, err)
		}
		if n, _ := st.DeleteBySID(ctx, "sid1"); n != 0 {
			t.Errorf("the old sid still ends the session (deleted %d)", n)
		}
		if got, err := st.Get(ctx, "id1"); err != nil || got.SID != "sid2" || got.Claims["auth_time"] != s.Claims["auth_time"] {
			t.Fatalf("after the update: %+v %v", got, err)
		}
		if n, _ := st.DeleteBySID(ctx, "sid2"); n != 1 {
			t.Errorf("the new sid ended %d sessions, want 1", n)
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

	// A refresh saves with SaveIfExists: however the session ended while
	// its refresh was in flight, the refreshed tokens are dropped.
	t.Run("SaveIfExists", func(t *testing.T) {
		ends := map[string]func(st session.Store, s *session.Session){
			"Delete":         func(st session.Store, s *session.Session) { _ = st.Delete(ctx, s.ID) },
			"DeleteBySID":    func(st session.Store, s *session.Session) { _, _ = st.DeleteBySID(ctx, s.SID) },
			"DeleteBySub":    func(st session.Store, s *session.Session) { _, _ = st.DeleteBySub(ctx, s.Sub) },
			"DeleteBySIDFor": func(st session.Store, s *session.Session) { _, _ = st.DeleteBySIDFor(ctx, s.Provider, s.SID) },
			"DeleteBySubFor": func(st session.Store, s *session.Session) { _, _ = st.DeleteBySubFor(ctx, s.Provider, s.Sub) },
			"never saved":    func(session.Store, *session.Session) {},
		}
		for name, end := range ends {
			t.Run(name, func(t *testing.T) {
				st := open(t)
				s := sample("id1", "sub1", "sid1", time.Hour)
				if name != "never saved" {
					if err := st.Save(ctx, s); err != nil {
						t.Fatal(err)
					}
				}
				end(st, s)
				fresh := s.Clone()
				fresh.AccessToken, fresh.ExpiresAt = "refreshed", time.Now().Add(2*time.Hour)
				saved, err := st.SaveIfExists(ctx, fresh)
				if err != nil || saved {
					t.Fatalf("SaveIfExists after %s = %v, %v; want false, nil", name, saved, err)
				}
				if got, err := st.Get(ctx, "id1"); !errors.Is(err, session.ErrNotFound) {
					t.Fatalf("session back after %s: %+v %v", name, got, err)
				}
				if n, _ := st.Len(ctx); n != 0 {
					t.Errorf("Len = %d after a dropped save", n)
				}
				// Nor did it come back in the indexes.
				if n, _ := st.DeleteBySub(ctx, "sub1"); n != 0 {
					t.Errorf("a dropped save left %d sessions in the sub index", n)
				}
			})
		}
		t.Run("live", func(t *testing.T) {
			st := open(t)
			s := sample("id1", "sub1", "sid1", time.Hour)
			if err := st.Save(ctx, s); err != nil {
				t.Fatal(err)
			}
			fresh := s.Clone()
			fresh.AccessToken, fresh.ExpiresAt = "refreshed", time.Now().Add(2*time.Hour).Truncate(time.Second)
			if saved, err := st.SaveIfExists(ctx, fresh); err != nil || !saved {
				t.Fatalf("SaveIfExists of a live session = %v, %v", saved, err)
			}
			got, err := st.Get(ctx, "id1")
			if err != nil || got.AccessToken != "refreshed" || !got.ExpiresAt.Equal(fresh.ExpiresAt) {
				t.Fatalf("after SaveIfExists: %+v %v", got, err)
			}
			if n, _ := st.DeleteBySID(ctx, "sid1"); n != 1 {
				t.Errorf("refreshed session not in the sid index (deleted %d)", n)
			}
		})
		t.Run("expired", func(t *testing.T) {
			st := open(t)
			s := sample("id1", "sub1", "sid1", 1200*time.Millisecond)
			if err := st.Save(ctx, s); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
			fresh := s.Clone()
			fresh.ExpiresAt = time.Now().Add(time.Hour)
			if saved, err := st.SaveIfExists(ctx, fresh); err != nil || saved {
				t.Fatalf("SaveIfExists of an expired session = %v, %v", saved, err)
			}
			if _, err := st.Get(ctx, "id1"); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("expired session revived: %v", err)
			}
		})
	})

	// An index of many sessions is deleted whole (stores may work through
	// it in chunks), and one of a few stays exact.
	t.Run("DeleteLargeIndex", func(t *testing.T) {
		st := open(t)
		const n = 1100
		for i := range n {
			// One core session across many subjects: the per-account cap
			// of a store does not apply.
			if err := st.Save(ctx, sample(fmt.Sprintf("big-%d", i), fmt.Sprintf("user-%d", i), "core-big", time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		_ = st.Save(ctx, sample("other", "user-1", "core-small", time.Hour))
		if got, err := st.DeleteBySID(ctx, "core-big"); err != nil || got != n {
			t.Fatalf("DeleteBySID of %d sessions = %d, %v", n, got, err)
		}
		for _, i := range []int{0, 1, n / 2, n - 1} {
			if _, err := st.Get(ctx, fmt.Sprintf("big-%d", i)); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("big-%d survived: %v", i, err)
			}
		}
		if _, err := st.Get(ctx, "other"); err != nil {
			t.Errorf("a session of another sid went with them: %v", err)
		}
		if got, _ := st.Len(ctx); got != 1 {
			t.Errorf("Len = %d, want 1", got)
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

	t.Run("Locker", func(t *testing.T) {
		st := open(t)
		unlock, err := st.Lock(ctx, "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		// Held: another taker waits, and gives up with its context.
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		if _, err := st.Lock(short, "k", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second Lock on a held key = %v, want the context's deadline", err)
		}
		cancel()
		// Another key is independent.
		other, err := st.Lock(ctx, "other", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		other()
		// A waiter gets it as soon as the holder releases.
		got := make(chan time.Time, 1)
		go func() {
			u, err := st.Lock(ctx, "k", time.Minute)
			if err == nil {
				got <- time.Now()
				u()
			}
		}()
		time.Sleep(100 * time.Millisecond)
		released := time.Now()
		unlock()
		unlock() // twice is harmless
		select {
		case at := <-got:
			if at.Before(released) {
				t.Error("waiter got the lock before it was released")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiter never got the released lock")
		}
		// A holder that never releases loses the lock after its ttl, and its
		// late unlock does not release the next holder's lock.
		stale, err := st.Lock(ctx, "lapse", 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		defer wcancel()
		next, err := st.Lock(wctx, "lapse", time.Minute)
		if err != nil {
			t.Fatalf("lock never lapsed: %v", err)
		}
		stale()
		short, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
		if _, err := st.Lock(short, "lapse", time.Minute); err == nil {
			t.Error("a lapsed holder's unlock released the next holder's lock")
		}
		cancel()
		next()
		if _, err := st.Lock(ctx, "zero", 0); err == nil {
			t.Error("Lock with no ttl succeeded")
		}
	})

	t.Run("RevocationWatcher", func(t *testing.T) {
		st := open(t)
		var mu sync.Mutex
		var seen []string
		stop := st.OnRevoke(func(ids []string) {
			mu.Lock()
			seen = append(seen, ids...)
			mu.Unlock()
		})
		for _, s := range []*session.Session{
			sample("a1", "alice", "core-1", time.Hour), sample("a2", "alice", "core-1", time.Hour),
			sample("a3", "alice", "core-2", time.Hour), sample("b1", "bob", "core-3", time.Hour),
		} {
			if err := st.Save(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		_ = st.Save(ctx, sample("b1", "bob", "core-3", time.Hour)) // a replace is no revocation
		_, _ = st.DeleteBySID(ctx, "core-1")
		_, _ = st.DeleteBySub(ctx, "alice")
		_ = st.Delete(ctx, "b1")
		_ = st.Delete(ctx, "missing")
		want := "[a1 a2 a3 b1]"
		deadline := time.Now().Add(2 * time.Second)
		for {
			mu.Lock()
			got := append([]string(nil), seen...)
			mu.Unlock()
			slices.Sort(got)
			if fmt.Sprint(got) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("revoked ids seen = %v, want %s", got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		_ = st.Save(ctx, sample("c1", "carol", "core-4", time.Hour))
		_ = st.Delete(ctx, "c1")
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 4 {
			t.Errorf("callback still called after stop: %v", seen)
		}
	})

	t.Run("ReplayGuard", func(t *testing.T) {
		st := open(t)
		if first, err := st.FirstUse(ctx, "jti-1", 500*time.Millisecond); err != nil || !first {
			t.Fatalf("first use = %v, %v", first, err)
		}
		if first, err := st.FirstUse(ctx, "jti-1", 500*time.Millisecond); err != nil || first {
			t.Fatalf("second use = %v, %v; want a replay", first, err)
		}
		if first, _ := st.FirstUse(ctx, "jti-2", time.Minute); !first {
			t.Error("another key counted as used")
		}
		// A use whose work failed is forgotten, and may be tried again.
		if err := st.Forget(ctx, "jti-2"); err != nil {
			t.Fatalf("Forget: %v", err)
		}
		if first, err := st.FirstUse(ctx, "jti-2", time.Minute); err != nil || !first {
			t.Errorf("after Forget, use = %v, %v; want a first use", first, err)
		}
		if first, _ := st.FirstUse(ctx, "jti-2", time.Minute); first {
			t.Error("used again after Forget and a new use")
		}
		time.Sleep(700 * time.Millisecond)
		if first, _ := st.FirstUse(ctx, "jti-1", time.Minute); !first {
			t.Error("key still used after its ttl")
		}
	})

	t.Run("ScopedDeleter", func(t *testing.T) {
		st := open(t)
		other := sample("b1", "alice", "core-1", time.Hour)
		other.Provider = "client-b"
		for _, s := range []*session.Session{sample("a1", "alice", "core-1", time.Hour), sample("a2", "alice", "core-2", time.Hour), other} {
			if err := st.Save(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.DeleteBySIDFor(ctx, "client-a", "core-1"); err != nil || n != 1 {
			t.Fatalf("DeleteBySIDFor = %d, %v; want 1", n, err)
		}
		if _, err := st.Get(ctx, "b1"); err != nil {
			t.Errorf("another provider's session with the same sid was ended: %v", err)
		}
		if n, err := st.DeleteBySubFor(ctx, "client-a", "alice"); err != nil || n != 1 {
			t.Fatalf("DeleteBySubFor = %d, %v; want 1", n, err)
		}
		if _, err := st.Get(ctx, "b1"); err != nil {
			t.Errorf("another provider's session of the same sub was ended: %v", err)
		}
		if n, _ := st.DeleteBySubFor(ctx, "", "alice"); n != 0 {
			t.Errorf("empty provider matched %d sessions", n)
		}
		// The unscoped index still finds what is left.
		if n, err := st.DeleteBySub(ctx, "alice"); err != nil || n != 1 {
			t.Errorf("DeleteBySub after scoped deletes = %d, %v; want 1", n, err)
		}
	})
}
