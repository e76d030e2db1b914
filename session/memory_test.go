package session_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
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

// A session that was looked up (and so is kept decoded) and then deleted
// or replaced is never served again, not even through the slot that a new
// session takes over.
func TestMemoryStoreNeverServesDeletedDecoded(t *testing.T) {
	st := session.NewMemoryStore(session.MemoryOptions{})
	defer st.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	save := func(id, token string) {
		t.Helper()
		if err := st.Save(ctx, &session.Session{ID: id, Sub: "u", SID: "s", AccessToken: token, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(id string) *session.Session {
		t.Helper()
		s, err := st.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		return s
	}
	save("a", "a1")
	get("a")
	save("a", "a2") // a refresh replaces it
	if s := get("a"); s.AccessToken != "a2" {
		t.Errorf("after replace, Get served token %q", s.AccessToken)
	}
	_ = st.Delete(ctx, "a")
	if _, err := st.Get(ctx, "a"); err == nil {
		t.Error("deleted session served")
	}
	save("b", "b1") // takes the freed slot
	if s := get("b"); s.ID != "b" || s.AccessToken != "b1" {
		t.Errorf("Get(b) served %s/%s", s.ID, s.AccessToken)
	}
	get("b")
	for _, del := range []func(){
		func() { _, _ = st.DeleteBySub(ctx, "u") },
		func() { _, _ = st.DeleteBySID(ctx, "s") },
		func() { _, _ = st.DeleteBySubFor(ctx, "", "u") }, // no provider: a no-op, "b" stays
	} {
		save("b", "b1")
		get("b")
		del()
		save("c", "c1")
		if s := get("c"); s.ID != "c" || s.AccessToken != "c1" {
			t.Fatalf("Get(c) served %s/%s", s.ID, s.AccessToken)
		}
		_ = st.Delete(ctx, "c")
	}
	if s := get("b"); s.ID != "b" {
		t.Errorf("Get(b) served %s", s.ID)
	}
}

// Lookups racing with deletes and new sessions: once Delete has returned,
// no lookup serves the session, and no lookup ever serves a session under
// another id. A lookup that decoded a record just before it was deleted
// must not leave its result in the cache for the slot's next session.
func TestMemoryStoreDeleteRacesGet(t *testing.T) {
	st := session.NewMemoryStore(session.MemoryOptions{CacheSize: 4})
	defer st.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	var wrong atomic.Int64
	for round := range 300 {
		id := fmt.Sprint("s", round)
		if err := st.Save(ctx, &session.Session{ID: id, Sub: id, AccessToken: "t-" + id, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		wg := lookupsMeanwhile(st, id, func(s *session.Session, err error) {
			if err == nil && (s.ID != id || s.AccessToken != "t-"+id) {
				wrong.Add(1)
			}
		})
		if round%2 == 0 {
			_ = st.Delete(ctx, id)
		} else {
			_, _ = st.DeleteBySub(ctx, id)
		}
		if _, err := st.Get(ctx, id); err == nil {
			t.Fatalf("round %d: served after Delete returned", round)
		}
		wg.Wait()
		if _, err := st.Get(ctx, id); err == nil {
			t.Fatalf("round %d: served after Delete, once the racing lookups were done", round)
		}
	}
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d lookups served another session than the one asked for", n)
	}
}

// lookupsMeanwhile starts 4 goroutines that each look id up 20 times and
// hand every answer to check; Wait on the result waits for them.
func lookupsMeanwhile(st *session.MemoryStore, id string, check func(*session.Session, error)) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				check(st.Get(context.Background(), id))
			}
		})
	}
	return &wg
}

// The cache of decoded sessions is bounded: with room for two, a third
// session looked up pushes one out, which is decoded anew (a new copy) on
// its next lookup; a session in the cache is served as the same copy.
func TestMemoryStoreCacheBound(t *testing.T) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	open := func(size int) *session.MemoryStore {
		st := session.NewMemoryStore(session.MemoryOptions{CacheSize: size})
		t.Cleanup(func() { _ = st.Close() })
		for _, id := range []string{"a", "b", "c"} {
			_ = st.Save(ctx, &session.Session{ID: id, Claims: map[string]any{"id": id}, ExpiresAt: exp})
		}
		return st
	}
	get := func(st *session.MemoryStore, id string) *session.Session {
		s, err := st.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	st := open(2)
	a, b := get(st, "a"), get(st, "b")
	if get(st, "a") != a || get(st, "b") != b {
		t.Fatal("a session in the cache was decoded again")
	}
	// a and b were both used since they came in: the hand spares each once,
	// then takes a, the first it meets again.
	get(st, "c")
	if get(st, "a") == a {
		t.Error("cache of 2 still holds a, b and c")
	}
	off := open(-1)
	if get(off, "a") == get(off, "a") {
		t.Error("with the cache off, a lookup served a kept copy")
	}
}

// A model check of the indexes: random saves (replacing some), deletes by
// id, sid, sub and per provider, and expiry, against a plain map of what
// must be there.
func TestMemoryStoreIndexesAgainstModel(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	st := session.NewMemoryStore(session.MemoryOptions{MaxSessions: 40, Now: now, SweepInterval: time.Hour})
	defer st.Close()
	ctx := context.Background()
	type rec struct {
		sub, sid, provider string
		exp                time.Time
	}
	model := map[string]rec{}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(p string, n int) string { return fmt.Sprint(p, rng.IntN(n)) }
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 5:
			id := pick("id", 60)
			// Expiries are unique (step), so the model and the store agree on
			// whom eviction picks.
			exp := now().Add(time.Duration(1+rng.IntN(100))*time.Second + time.Duration(step))
			r := rec{sub: pick("sub", 8), sid: pick("sid", 12), provider: pick("p", 3), exp: exp}
			if rng.IntN(10) == 0 {
				r.sid = "" // not every session has a core session
			}
			if err := st.Save(ctx, &session.Session{ID: id, Sub: r.sub, SID: r.sid, Provider: r.provider, ExpiresAt: r.exp}); err != nil {
				t.Fatal(err)
			}
			delete(model, id)
			if len(model) >= 40 { // evict the soonest to end, as the store does
				var first string
				for k, v := range model {
					if first == "" || v.exp.Before(model[first].exp) || (v.exp.Equal(model[first].exp) && k < first) {
						first = k
					}
				}
				delete(model, first)
			}
			model[id] = r
		case op < 6:
			id := pick("id", 60)
			_ = st.Delete(ctx, id)
			delete(model, id)
		case op < 9:
			by := rng.IntN(4)
			key := [4]string{pick("sub", 8), pick("sid", 12), pick("sub", 8), pick("sid", 12)}[by]
			provider := pick("p", 3)
			var n int
			switch by {
			case 0:
				n, _ = st.DeleteBySub(ctx, key)
			case 1:
				n, _ = st.DeleteBySID(ctx, key)
			case 2:
				n, _ = st.DeleteBySubFor(ctx, provider, key)
			case 3:
				n, _ = st.DeleteBySIDFor(ctx, provider, key)
			}
			// Nothing is swept during the test (the sweeper runs hourly), so
			// expired sessions are still there to be deleted and counted.
			want := 0
			for id, r := range model {
				if [4]string{r.sub, r.sid, r.sub, r.sid}[by] == key && (by < 2 || r.provider == provider) {
					want++
					delete(model, id)
				}
			}
			if n != want {
				t.Fatalf("step %d: delete %d of %q removed %d sessions, want %d", step, by, key, n, want)
			}
		default:
			clock.Add(int64(time.Duration(rng.IntN(5)) * time.Second))
		}
		for id := range 60 {
			key := fmt.Sprint("id", id)
			r, ok := model[key]
			live := ok && now().Before(r.exp)
			s, err := st.Get(ctx, key)
			if (err == nil) != live {
				t.Fatalf("step %d: %s present=%v, want %v", step, key, err == nil, live)
			}
			if err == nil && (s.Sub != r.sub || s.SID != r.sid || s.Provider != r.provider) {
				t.Fatalf("step %d: %s = %s/%s/%s, want %+v", step, key, s.Sub, s.SID, s.Provider, r)
			}
		}
		if n, _ := st.Len(ctx); n != len(model) {
			t.Fatalf("step %d: Len = %d, want %d", step, n, len(model))
		}
	}
}

// Lookups racing with a replace (a refresh saving new tokens, or the same
// session saved for another provider): once Save has returned, no lookup
// serves the old session, even one that decoded the old record just before.
func TestMemoryStoreReplaceRacesGet(t *testing.T) {
	st := session.NewMemoryStore(session.MemoryOptions{})
	defer st.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for round := range 600 {
		old, fresh := fmt.Sprint("old", round), fmt.Sprint("new", round)
		oldProvider, provider := "p", "p"
		if round%2 == 1 { // only the provider changes
			fresh, oldProvider = old, "q"
		}
		if err := st.Save(ctx, &session.Session{ID: "s", Provider: oldProvider, AccessToken: old, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		wg := lookupsMeanwhile(st, "s", func(*session.Session, error) {})
		if err := st.Save(ctx, &session.Session{ID: "s", Provider: provider, AccessToken: fresh, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if s, err := st.Get(ctx, "s"); err != nil || s.AccessToken != fresh || s.Provider != provider {
			t.Fatalf("round %d: after the replace, Get served %v (%v), want %s of %s", round, s, err, fresh, provider)
		}
	}
}

// Lookups while the index tables grow (they are rebuilt beside the old
// ones while lookups go on): every session saved so far is found, under
// its own id, however many times the tables have doubled meanwhile.
func TestMemoryStoreLookupsWhileTablesGrow(t *testing.T) {
	st := session.NewMemoryStore(session.MemoryOptions{CacheSize: 8})
	defer st.Close()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	const n = 5000
	var saved atomic.Int64
	var wrong, missing atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for saved.Load() < n {
				k := saved.Load()
				if k == 0 {
					continue
				}
				id := fmt.Sprint("s", rand.Int64N(k))
				s, err := st.Get(ctx, id)
				switch {
				case err != nil:
					missing.Add(1)
				case s.ID != id || s.Sub != "u-"+id:
					wrong.Add(1)
				}
			}
		})
	}
	for i := range n {
		id := fmt.Sprint("s", i)
		if err := st.Save(ctx, &session.Session{ID: id, Sub: "u-" + id, SID: "c-" + id, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		saved.Store(int64(i + 1))
	}
	wg.Wait()
	if missing.Load() > 0 || wrong.Load() > 0 {
		t.Errorf("while the tables grew: %d lookups of saved sessions missed, %d served another", missing.Load(), wrong.Load())
	}
	if got, _ := st.DeleteBySub(ctx, "u-s4321"); got != 1 {
		t.Errorf("DeleteBySub after growth ended %d sessions, want 1", got)
	}
}
