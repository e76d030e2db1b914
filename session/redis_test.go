package session_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
	"github.com/outpost-dev/outpost/session/sessiontest"
	"github.com/redis/go-redis/v9"
)

func newRedisStore(t *testing.T, srv *redistest.Server, prefix string) *session.RedisStore {
	t.Helper()
	st, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: srv.Addr(), Password: srv.Password}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	n := 0
	sessiontest.Run(t, func(t *testing.T) session.Store {
		n++
		return newRedisStore(t, srv, "conf"+string(rune('a'+n))+":")
	})
}

// Two replicas share one Redis: a revocation on one reaches the other's
// cache and watchers at once, and the cache really saves round trips.
func TestRedisReplicasShareRevocations(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newRedisStore(t, srv, "rep:"), newRedisStore(t, srv, "rep:")
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	waitSubscribed(t, a, b)

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
	before := hgetCalls(t, srv)
	for range 20 {
		if _, err := b.Get(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := hgetCalls(t, srv) - before; n > 1 {
		t.Errorf("20 cached reads made %d HGETs", n)
	}
	if _, err := b.Get(session.WithoutCache(ctx), "s1"); err != nil {
		t.Fatal(err)
	}
	if n := hgetCalls(t, srv) - before; n < 1 {
		t.Error("WithoutCache was served from the cache")
	}

	// A refresh on a: b sees the new tokens, not its cached copy.
	s.AccessToken = "t2"
	if err := a.Save(ctx, s); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, func() bool { g, err := b.Get(ctx, "s1"); return err == nil && g.AccessToken == "t2" })

	// Sign-out on a: gone on b within a second, and b's watchers hear it.
	if n, err := a.DeleteBySub(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteBySub = %d, %v", n, err)
	}
	eventually(t, time.Second, func() bool { _, err := b.Get(ctx, "s1"); return errors.Is(err, session.ErrNotFound) })
	select {
	case ids := <-revoked:
		if fmt.Sprint(ids) != "[s1]" {
			t.Errorf("b heard %v", ids)
		}
	case <-time.After(time.Second):
		t.Fatal("b's watcher never heard the revocation")
	}
}

// Keys expire with their session; indexes outlive their members and never
// stay behind once empty.
func TestRedisKeysAndExpiry(t *testing.T) {
	srv := redistest.Start(t)
	st := newRedisStore(t, srv, "keys:")
	defer st.Close()
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	for i, sid := range []string{"core-1", "core-1", "core-2"} {
		s := &session.Session{ID: fmt.Sprint("id", i), Provider: "p", Sub: "alice", SID: sid, ExpiresAt: exp.Add(time.Duration(i) * time.Minute)}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if at := rc.PExpireTime(ctx, "keys:s:id0").Val(); at != time.Duration(exp.UnixMilli())*time.Millisecond {
		t.Errorf("session key expires at %v, want %v", at, exp.UnixMilli())
	}
	if at := rc.PExpireTime(ctx, "keys:sub:alice").Val(); at != time.Duration(exp.Add(2*time.Minute).UnixMilli())*time.Millisecond {
		t.Errorf("sub index expires at %v, want the latest member's %v", at, exp.Add(2*time.Minute).UnixMilli())
	}
	if at := rc.PExpireTime(ctx, "keys:sid:core-1").Val(); at != time.Duration(exp.Add(time.Minute).UnixMilli())*time.Millisecond {
		t.Errorf("sid index expires at %v", at)
	}
	if n, _ := st.Len(ctx); n != 3 {
		t.Errorf("Len = %d", n)
	}
	if n, err := st.DeleteBySub(ctx, "alice"); err != nil || n != 3 {
		t.Fatalf("DeleteBySub = %d, %v", n, err)
	}
	if keys := rc.Keys(ctx, "keys:*").Val(); len(keys) != 0 {
		t.Errorf("keys left after every session was deleted: %v", keys)
	}
	// A short session: its key goes by itself, and Len stops counting it.
	_ = st.Save(ctx, &session.Session{ID: "short", Provider: "p", Sub: "bob", ExpiresAt: time.Now().Add(300 * time.Millisecond)})
	time.Sleep(600 * time.Millisecond)
	if n, _ := st.Len(ctx); n != 0 {
		t.Errorf("Len counts an expired session: %d", n)
	}
	if rc.Exists(ctx, "keys:s:short").Val() != 0 {
		t.Error("expired session key still in redis")
	}
}

// Redis down: every read fails (cached or not), nothing reads as "no
// session" or as a session; back: it works again by itself.
func TestRedisDownFailsClosedAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	var failures sync.Map
	st, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: srv.Addr(), MaxRetries: -1},
		Prefix: "down:", OnError: func(op string) { failures.Store(op, true) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	waitSubscribed(t, st)
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
	if _, err := st.DeleteBySub(ctx, "alice"); err == nil {
		t.Error("DeleteBySub succeeded with redis down")
	}
	if err := st.Save(ctx, s); err == nil {
		t.Error("Save succeeded with redis down")
	}
	if _, ok := failures.Load("get"); !ok {
		t.Error("OnError not called for get")
	}
	srv.Restart()
	// The sign-out asked while Redis was down was retried: it wins over
	// the session (even saved again meanwhile), on every replica.
	other, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: srv.Addr(), MaxRetries: -1}, Prefix: "down:"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	eventually(t, 5*time.Second, func() bool { return st.Save(ctx, s) == nil })
	eventually(t, 10*time.Second, func() bool {
		_, err := other.Get(ctx, "s1")
		return errors.Is(err, session.ErrNotFound)
	})
	if _, err := st.Get(ctx, "s1"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("the session signed out while redis was down: %v", err)
	}
	// Works again by itself: a session begun afterwards is served.
	s2 := &session.Session{ID: "s2", Provider: "p", Sub: "alice", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.Save(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "s2"); err != nil {
		t.Errorf("after redis came back: %v", err)
	}
}

func waitSubscribed(t *testing.T, stores ...*session.RedisStore) {
	t.Helper()
	for _, st := range stores {
		eventually(t, 5*time.Second, st.Subscribed)
	}
}

func hgetCalls(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	info := rc.Info(context.Background(), "commandstats").Val()
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_hget:calls="); ok {
			n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
			return n
		}
	}
	return 0
}

func eventually(t *testing.T, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s", within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
