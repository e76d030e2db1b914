package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// Revocations Redis could not confirm are remembered within bounds: at
// most PendingRevocations of them, each for RevocationRetryFor. Past the
// bounds one is not retried, and its session outlives it (the caller had
// its error); within them, it is carried out once Redis is back.
func TestPendingRevocationsBounded(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int
		retryFor time.Duration
		downFor  time.Duration
		// ended: which of sid-a and sid-b are gone once Redis is back.
		endedA, endedB bool
	}{
		{name: "within bounds", max: 10, retryFor: time.Minute, endedA: true, endedB: true},
		{name: "size", max: 1, retryFor: time.Minute, endedA: true, endedB: false},
		{name: "time", max: 10, retryFor: 300 * time.Millisecond, downFor: time.Second, endedA: false, endedB: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			st, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: srv.Addr(), MaxRetries: -1},
				Prefix: "pending:", PendingRevocations: tc.max, RevocationRetryFor: tc.retryFor})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			for _, sid := range []string{"a", "b"} {
				s := &session.Session{ID: "s-" + sid, Provider: "p", SID: "sid-" + sid, Sub: "u-" + sid, ExpiresAt: time.Now().Add(time.Hour)}
				if err := st.Save(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			srv.Kill()
			for _, sid := range []string{"sid-a", "sid-b"} {
				if _, err := st.DeleteBySID(ctx, sid); err == nil {
					t.Fatal("DeleteBySID succeeded with redis down")
				}
			}
			time.Sleep(tc.downFor)
			srv.Restart()
			// A second replica, with nothing pending, sees what Redis holds.
			other, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: srv.Addr()}, Prefix: "pending:"})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			gone := func(id string) bool {
				_, err := other.Get(ctx, id)
				return errors.Is(err, session.ErrNotFound)
			}
			eventually(t, 10*time.Second, func() bool { return gone("s-a") == tc.endedA && gone("s-b") == tc.endedB })
			time.Sleep(time.Second) // any retry still due has run by now
			if gone("s-a") != tc.endedA || gone("s-b") != tc.endedB {
				t.Errorf("ended: s-a %v, s-b %v; want %v, %v", gone("s-a"), gone("s-b"), tc.endedA, tc.endedB)
			}
		})
	}
}
