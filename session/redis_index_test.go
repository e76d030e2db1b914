package session_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// Ids of sessions that expired leave the sub: and sid: sets at the next
// Save into them: the sets hold the live sessions only.
func TestRedisIndexesPrunedAtSave(t *testing.T) {
	srv := redistest.Start(t)
	st := newRedisStore(t, srv, "prune:")
	defer st.Close()
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	save := func(id string, ttl time.Duration) {
		t.Helper()
		s := &session.Session{ID: id, Provider: "p", Sub: "alice", SID: "core-1", ExpiresAt: time.Now().Add(ttl)}
		if err := st.Save(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Five sign-ins, three of them short; the short ones run out.
	for i := range 3 {
		save(fmt.Sprint("short-", i), 500*time.Millisecond)
	}
	save("live-0", time.Hour)
	time.Sleep(800 * time.Millisecond)
	save("live-1", time.Hour)
	for _, k := range []string{"prune:sub:alice", "prune:sid:core-1"} {
		if got := rc.SMembers(ctx, k).Val(); len(got) != 2 {
			t.Errorf("%s holds %v, want the 2 live sessions", k, got)
		}
	}
	if n := rc.ZCard(ctx, "prune:exp").Val(); n != 2 {
		t.Errorf("the expiry set holds %d ids, want 2", n)
	}
}

// A sign-out over an index set swollen with 200,000 ids of sessions long
// gone (an index from before pruning) is done in bounded script calls:
// Redis logs no command slower than 50 ms, and the set is emptied.
func TestRedisHugeIndexDeleteIsChunked(t *testing.T) {
	srv := redistest.Start(t)
	st := newRedisStore(t, srv, "huge:")
	defer st.Close()
	ctx := context.Background()
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	const stale = 200000
	for i := 0; i < stale; i += 10000 {
		ids := make([]any, 0, 10000)
		for j := i; j < i+10000; j++ {
			ids = append(ids, fmt.Sprint("gone-", j))
		}
		if err := rc.SAdd(ctx, "huge:sub:alice", ids...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.ConfigSet(ctx, "slowlog-log-slower-than", "50000").Err(); err != nil {
		t.Fatal(err)
	}
	rc.SlowLogReset(ctx)

	// Saving into it prunes a bounded sample, not the whole set.
	for _, id := range []string{"live-a", "live-b"} {
		if err := st.Save(ctx, &session.Session{ID: id, Provider: "p", Sub: "alice", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := rc.SCard(ctx, "huge:sub:alice").Val(); n < stale-200 {
		t.Errorf("a Save pruned the set down to %d: unbounded work", n)
	}

	// Meanwhile Redis keeps answering others promptly.
	worst := make(chan time.Duration, 1)
	stop := make(chan struct{})
	go func() {
		var w time.Duration
		for {
			select {
			case <-stop:
				worst <- w
				return
			default:
			}
			start := time.Now()
			rc.Ping(ctx)
			w = max(w, time.Since(start))
		}
	}()
	n, err := st.DeleteBySub(ctx, "alice")
	close(stop)
	if err != nil || n != 2 {
		t.Fatalf("DeleteBySub = %d, %v; want the 2 live sessions", n, err)
	}
	if w := <-worst; w > 300*time.Millisecond {
		t.Errorf("a PING waited %s during the sign-out", w)
	}
	for _, e := range rc.SlowLogGet(ctx, 10).Val() {
		t.Errorf("slow command during save and sign-out: %v took %s", e.Args, e.Duration)
	}
	if n := rc.Exists(ctx, "huge:sub:alice").Val(); n != 0 {
		t.Errorf("index left with %d members", rc.SCard(ctx, "huge:sub:alice").Val())
	}
	for _, id := range []string{"live-a", "live-b"} {
		if _, err := st.Get(session.WithoutCache(ctx), id); err == nil {
			t.Errorf("%s survived the sign-out", id)
		}
	}
}
