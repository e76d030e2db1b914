package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// A session that an earlier version saved (its d field JSON, the rest of
// the keys as now) is still read after an upgrade, and ends as any other.
func TestRedisReadsSessionsOfEarlierVersions(t *testing.T) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	srv := redistest.Start(t)
	st := newRedisStore(t, srv, "old:")
	defer st.Close()
	if err := st.Save(ctx, &session.Session{ID: "legacy", Provider: "p", Sub: "alice", SID: "core-1", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	// What versions before records wrote into d.
	old := `{"id":"legacy","provider":"p","claims":{"groups":["ops"],"sub":"alice"},"sub":"alice","sid":"core-1",` +
		`"access_token":"a.b.c","id_token":"i.d.t","refresh_token":"r","token_expiry":"` + exp.Format(time.RFC3339Nano) + `",` +
		`"created_at":"2026-01-01T00:00:00Z","expires_at":"` + exp.Format(time.RFC3339Nano) + `"}`
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr(), Password: srv.Password})
	defer rc.Close()
	if err := rc.HSet(ctx, "old:s:legacy", "d", old).Err(); err != nil {
		t.Fatal(err)
	}
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
