package session_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/pgtest"
	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/session"
	"github.com/outpost-dev/outpost/session/sessiontest"
)

func TestPostgresConformance(t *testing.T) {
	srv := pgtest.Start(t)
	n := 0
	sessiontest.Run(t, func(t *testing.T) session.Store {
		n++
		return pgtest.NewStore(t, srv, session.PostgresOptions{Schema: fmt.Sprintf("conf_%d", n)})
	})
}

// Two replicas on one database and schema: a revocation on one reaches the
// other's cache and watchers within a second, a replaced session is not
// served from the other's stale copy, and the cache saves round trips.
func TestPostgresReplicasShareRevocations(t *testing.T) {
	srv := pgtest.Start(t)
	a := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "rep"})
	b := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "rep"})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	eventually(t, 5*time.Second, func() bool { return a.Subscribed() && b.Subscribed() })

	revoked := make(chan []string, 10)
	b.OnRevoke(func(ids []string) { revoked <- ids })
	s := &session.Session{ID: "s1", Provider: "p", Sub: "alice", SID: "core-1", Claims: map[string]any{"sub": "alice"},
		AccessToken: "t1", ExpiresAt: time.Now().Add(time.Hour)}
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	// Cached: the row changed behind the store's back is not read again.
	srv.Exec(t, pgtest.Database, `UPDATE rep.sessions SET expires_at = now() - interval '1 hour' WHERE id = 's1'`)
	for range 20 {
		if _, err := b.Get(ctx, "s1"); err != nil {
			t.Fatalf("a cached read went to the database: %v", err)
		}
	}
	if _, err := b.Get(session.WithoutCache(ctx), "s1"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("WithoutCache was served from the cache: %v", err)
	}
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}

	// A refresh on a: b sees the new tokens, not its cached copy.
	s.AccessToken = "t2"
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, func() bool { g, err := b.Get(ctx, "s1"); return err == nil && g.AccessToken == "t2" })

	// Sign-out on a: gone on b within a second, and b's watchers hear it.
	signedOut := time.Now()
	if n, err := a.DeleteBySub(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteBySub = %d, %v", n, err)
	}
	eventually(t, time.Second, func() bool { _, err := b.Get(ctx, "s1"); return errors.Is(err, session.ErrNotFound) })
	select {
	case ids := <-revoked:
		if fmt.Sprint(ids) != "[s1]" {
			t.Errorf("b heard %v", ids)
		}
		if d := time.Since(signedOut); d > time.Second {
			t.Errorf("b heard it after %s", d)
		}
	case <-time.After(time.Second):
		t.Fatal("b's watcher never heard the revocation")
	}

	// Many at once (more than one notification can carry): all heard.
	const many = 700
	for i := range many {
		if err := a.Save(ctx, &session.Session{ID: fmt.Sprintf("%s-%04d", strings.Repeat("x", 40), i), Provider: "p", Sub: fmt.Sprint("u", i), SID: "big",
			ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	var heard []string
	deadline := time.After(2 * time.Second)
	if n, err := a.DeleteBySID(ctx, "big"); err != nil || n != many {
		t.Fatalf("DeleteBySID = %d, %v", n, err)
	}
	for len(heard) < many {
		select {
		case ids := <-revoked:
			heard = append(heard, ids...)
		case <-deadline:
			t.Fatalf("b heard %d of %d revocations", len(heard), many)
		}
	}
}

// One refresh across replicas: a lock taken on one replica holds off the
// other, which gets it once released.
func TestPostgresLockAcrossReplicas(t *testing.T) {
	srv := pgtest.Start(t)
	a := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "lk"})
	b := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "lk"})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	var holders, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			unlock, err := st.Lock(lctx, "refresh:s1", 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			n := holders.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			holders.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d replicas held the lock at once", most.Load())
	}
}

// Replicas starting together on an empty database create the schema once,
// each saying what it found; a restart finds it up to date.
func TestPostgresConcurrentMigrations(t *testing.T) {
	srv := pgtest.Start(t)
	logs := &proctest.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	var mu sync.Mutex
	var found []int
	stores := make([]*session.PostgresStore, 6)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i] = pgtest.NewStore(t, srv, session.PostgresOptions{Log: log, OnMigrated: func(m session.SchemaMigration) {
				mu.Lock()
				defer mu.Unlock()
				found = append(found, m.Found)
				if m.Version != session.PostgresSchemaVersion() || m.Schema != "outpost" {
					t.Errorf("migrated to %+v", m)
				}
			}})
		}()
	}
	wg.Wait()
	defer func() {
		for _, st := range stores {
			if st != nil {
				st.Close()
			}
		}
	}()
	slices.Sort(found)
	want := []int{0}
	for range len(stores) - 1 {
		want = append(want, session.PostgresSchemaVersion())
	}
	if fmt.Sprint(found) != fmt.Sprint(want) {
		t.Errorf("versions found = %v, want one 0 (the first) and the rest %d", found, session.PostgresSchemaVersion())
	}
	if got := srv.Query(t, `SELECT count(*) FROM outpost.schema_migrations`); fmt.Sprint(got) != fmt.Sprint([]int{len(postgresVersions())}) {
		t.Errorf("schema_migrations rows: %v", got)
	}
	if n := strings.Count(logs.String(), `"msg":"session schema migrated","schema":"outpost","found_version":0,"version":`); n != 1 {
		t.Errorf("%d migration lines:\n%s", n, logs)
	}
	if n := strings.Count(logs.String(), `"msg":"session schema up to date"`); n != len(stores)-1 {
		t.Errorf("%d up-to-date lines:\n%s", n, logs)
	}
	// The outpost's tables are in its schema only; public is untouched.
	if got := srv.Query(t, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`); fmt.Sprint(got) != "[0]" {
		t.Errorf("tables in public: %v", got)
	}
	// They work: a session saved through one is read through another.
	ctx := context.Background()
	if err := stores[0].Save(ctx, &session.Session{ID: "m1", Provider: "p", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[5].Get(ctx, "m1"); err != nil {
		t.Error(err)
	}
}

func postgresVersions() []int {
	var out []int
	for v := 1; v <= session.PostgresSchemaVersion(); v++ {
		out = append(out, v)
	}
	return out
}

// A schema the operator created for a role that may not create schemas is
// used as it is; a role that may do neither gets an error naming the
// schema, and requests are refused meanwhile.
func TestPostgresSchemaPrivileges(t *testing.T) {
	srv := pgtest.Start(t)
	srv.Exec(t, pgtest.Database,
		"REVOKE CREATE ON DATABASE "+pgtest.Database+" FROM "+pgtest.User,
		"CREATE SCHEMA given AUTHORIZATION "+pgtest.User)
	st := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "given"})
	defer st.Close()
	ctx := context.Background()
	if err := st.Save(ctx, &session.Session{ID: "g1", Provider: "p", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	denied, err := session.NewPostgresStore(session.PostgresOptions{ConnString: srv.URL(), Schema: "not_given"})
	if err != nil {
		t.Fatal(err)
	}
	defer denied.Close()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := denied.WaitReady(wctx); err == nil || !strings.Contains(err.Error(), "creating schema not_given") || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("WaitReady = %v", err)
	}
	if _, err := denied.Get(ctx, "g1"); err == nil || errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get on a store that is not ready = %v, want an error (deny)", err)
	}
}

// Expired rows go in small batches, and each ended session is told to the
// watchers, as a revocation would be; replay keys and lapsed locks go too.
func TestPostgresSweep(t *testing.T) {
	srv := pgtest.Start(t)
	st := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "sweep", SweepInterval: 200 * time.Millisecond})
	defer st.Close()
	ctx := context.Background()
	var mu sync.Mutex
	var ended []string
	st.OnRevoke(func(ids []string) {
		mu.Lock()
		ended = append(ended, ids...)
		mu.Unlock()
	})
	const n = 1200 // more than one batch
	srv.Exec(t, pgtest.Database, fmt.Sprintf(`INSERT INTO sweep.sessions (id, provider, sub, sid, data, created_at, expires_at)
SELECT 'old-' || i, 'p', 'u' || i, '', '{}', now(), now() - interval '1 minute' FROM generate_series(1, %d) i`, n))
	if err := st.Save(ctx, &session.Session{ID: "live", Provider: "p", Sub: "bob", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.FirstUse(ctx, "jti-short", 100*time.Millisecond); err != nil || !ok {
		t.Fatal(ok, err)
	}
	unlock, err := st.Lock(ctx, "lapsing", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	eventually(t, 5*time.Second, func() bool {
		return fmt.Sprint(srv.Query(t, `SELECT count(*) FROM sweep.sessions`)) == "[1]"
	})
	eventually(t, 5*time.Second, func() bool {
		return fmt.Sprint(srv.Query(t, `SELECT (SELECT count(*) FROM sweep.once_keys) + (SELECT count(*) FROM sweep.locks)`)) == "[0]"
	})
	eventually(t, time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(ended) == n })
	if _, err := st.Get(ctx, "live"); err != nil {
		t.Errorf("the sweep took a live session: %v", err)
	}
}

// One account's sessions at one provider are capped: the one closest to
// expiry goes, on every replica, and its watchers are told; another
// provider's and another account's stay.
func TestPostgresPerUserCap(t *testing.T) {
	srv := pgtest.Start(t)
	a := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "capped", MaxSessionsPerSubject: 2})
	b := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "capped", MaxSessionsPerSubject: 2})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	eventually(t, 5*time.Second, func() bool { return b.Subscribed() })
	heard := make(chan []string, 4)
	b.OnRevoke(func(ids []string) { heard <- ids })
	now := time.Now()
	for i, s := range []*session.Session{
		{ID: "alice-1", Provider: "p", Sub: "alice", ExpiresAt: now.Add(time.Hour)},
		{ID: "alice-2", Provider: "p", Sub: "alice", ExpiresAt: now.Add(2 * time.Hour)},
		{ID: "alice-other", Provider: "q", Sub: "alice", ExpiresAt: now.Add(time.Minute)},
		{ID: "bob-1", Provider: "p", Sub: "bob", ExpiresAt: now.Add(time.Minute)},
		{ID: "alice-3", Provider: "p", Sub: "alice", ExpiresAt: now.Add(3 * time.Hour)},
	} {
		st := a
		if i%2 == 1 {
			st = b
		}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[string]bool{"alice-1": false, "alice-2": true, "alice-3": true, "alice-other": true, "bob-1": true} {
		if _, err := b.Get(session.WithoutCache(ctx), id); (err == nil) != want {
			t.Errorf("%s present = %v, want %v", id, err == nil, want)
		}
	}
	select {
	case ids := <-heard:
		if fmt.Sprint(ids) != "[alice-1]" {
			t.Errorf("the other replica heard %v", ids)
		}
	case <-time.After(time.Second):
		t.Error("the other replica never heard of the capped session")
	}
}

// The database goes away: every read fails (cached or not), nothing reads
// as "no session" or as a session; a sign-out meanwhile is remembered and
// carried out once it is back; and the store works again by itself.
func TestPostgresDownFailsClosedAndRecovers(t *testing.T) {
	srv := pgtest.Start(t)
	var failures sync.Map
	st := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "down", OpTimeout: time.Second,
		OnError: func(op string) { failures.Store(op, true) }})
	defer st.Close()
	other := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "down"})
	defer other.Close()
	ctx := context.Background()
	eventually(t, 5*time.Second, st.Subscribed)
	feed := make(chan bool, 10)
	st.OnFeed(func(up bool) { feed <- up })
	s := &session.Session{ID: "s1", Provider: "p", Sub: "alice", ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "s1"); err != nil { // now cached
		t.Fatal(err)
	}
	srv.Kill()
	eventually(t, time.Second, func() bool {
		_, err := st.Get(ctx, "s1")
		return err != nil && !errors.Is(err, session.ErrNotFound)
	})
	if up := <-feed; up {
		t.Error("the feed said up when the database went")
	}
	for name, op := range map[string]func() error{
		"DeleteBySub": func() error { _, err := st.DeleteBySub(ctx, "alice"); return err },
		"Save":        func() error { return st.Save(ctx, s) },
		"Lock":        func() error { _, err := st.Lock(ctx, "k", time.Second); return err },
		"FirstUse":    func() error { _, err := st.FirstUse(ctx, "jti", time.Second); return err },
		"Len":         func() error { _, err := st.Len(ctx); return err },
	} {
		if err := op(); err == nil {
			t.Errorf("%s succeeded with the database down", name)
		}
	}
	if _, ok := failures.Load("get"); !ok {
		t.Error("OnError not called for get")
	}
	srv.Restart()
	// The sign-out asked while it was down is retried: it wins over the
	// session (even refreshed meanwhile), on every replica.
	eventually(t, 5*time.Second, func() bool { _, err := st.SaveIfExists(ctx, s); return err == nil })
	eventually(t, 10*time.Second, func() bool {
		_, err := other.Get(session.WithoutCache(ctx), "s1")
		return errors.Is(err, session.ErrNotFound)
	})
	if _, err := st.Get(ctx, "s1"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("the session signed out while the database was down: %v", err)
	}
	select {
	case up := <-feed:
		if !up {
			t.Error("the feed did not come back up")
		}
	case <-time.After(5 * time.Second):
		t.Error("the feed did not come back up")
	}
	// Works again by itself: a session begun afterwards is served, cached.
	s2 := &session.Session{ID: "s2", Provider: "p", Sub: "alice", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.Save(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "s2"); err != nil {
		t.Errorf("after the database came back: %v", err)
	}
	eventually(t, 5*time.Second, st.Subscribed)
}

// A database that is down when the store starts: requests are refused, and
// once it answers the schema is migrated and everything works.
func TestPostgresDownAtStart(t *testing.T) {
	srv := pgtest.Start(t)
	srv.Kill()
	st, err := session.NewPostgresStore(session.PostgresOptions{ConnString: srv.URL(), Schema: "late"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := st.WaitReady(wctx); err == nil {
		t.Fatal("ready with the database down")
	}
	if _, err := st.Get(ctx, "x"); err == nil || errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get before the database answered = %v, want an error (deny)", err)
	}
	srv.Restart()
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := st.WaitReady(rctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Save(ctx, &session.Session{ID: "x", Provider: "p", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "x"); err != nil {
		t.Error(err)
	}
}
