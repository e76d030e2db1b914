package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/pgtest"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// legacyJSON is session "legacy" as versions before records stored it.
func legacyJSON(exp time.Time) string {
	return `{"id":"legacy","provider":"p","claims":{"groups":["ops"],"sub":"alice"},"sub":"alice","sid":"core-1",` +
		`"access_token":"a.b.c","id_token":"i.d.t","refresh_token":"r","token_expiry":"` + exp.Format(time.RFC3339Nano) + `",` +
		`"created_at":"2026-01-01T00:00:00Z","expires_at":"` + exp.Format(time.RFC3339Nano) + `"}`
}

// checkLegacyRead saves session "legacy", has overwrite put legacyJSON in
// its place as an earlier version wrote it (the rest of the keys or the
// row as now), and fails unless the store reads it after the upgrade and
// ends it as any other.
func checkLegacyRead(t *testing.T, st session.Store, overwrite func(json string)) {
	t.Helper()
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := st.Save(ctx, &session.Session{ID: "legacy", Provider: "p", Sub: "alice", SID: "core-1", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	overwrite(legacyJSON(exp))
	got, err := st.Get(session.WithoutCache(ctx), "legacy")
	if err != nil {
		t.Fatalf("Get of an earlier version's session: %v", err)
	}
	if got.Sub != "alice" || got.SID != "core-1" || got.Provider != "p" || got.AccessToken != "a.b.c" || got.IDToken != "i.d.t" ||
		got.RefreshToken != "r" || !got.ExpiresAt.Equal(exp) || got.Claims["sub"] != "alice" {
		t.Errorf("earlier version's session read as %+v", got)
	}
	if n, err := st.DeleteBySID(ctx, "core-1"); err != nil || n != 1 {
		t.Errorf("DeleteBySID = %d, %v; want 1", n, err)
	}
	if _, err := st.Get(session.WithoutCache(ctx), "legacy"); err == nil {
		t.Error("earlier version's session served after DeleteBySID")
	}
}

func TestRedisReadsSessionsOfEarlierVersions(t *testing.T) {
	srv := redistest.Start(t)
	st := newRedisStore(t, srv, "old:")
	defer st.Close()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: srv.Password})
	defer rc.Close()
	checkLegacyRead(t, st, func(json string) {
		if err := rc.HSet(context.Background(), "old:s:legacy", "d", json).Err(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPostgresReadsSessionsOfEarlierVersions(t *testing.T) {
	srv := pgtest.Start(t)
	st := pgtest.NewStore(t, srv, session.PostgresOptions{Schema: "old"})
	checkLegacyRead(t, st, func(json string) {
		srv.Exec(t, pgtest.Database, `UPDATE old.sessions SET data = convert_to($j$`+json+`$j$, 'UTF8') WHERE id = 'legacy'`)
	})
}
