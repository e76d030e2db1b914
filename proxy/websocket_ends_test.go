package proxy_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
)

// Every way a session ends closes its websockets within a second, not
// only a revocation (issue 20, row 4): running out (memory and Redis,
// where the key times out), the memory store's sweep, eviction for room,
// and the cap on one account's sessions. Revocation has its own tests
// (TestWebsocketClosedOnSessionEnd, TestRedisRevocationFromAnotherReplica).
func TestWebsocketClosedWhenTheSessionEnds(t *testing.T) {
	// validity 2 s: a session lives 3 s (access_token_validity + 1).
	short := stackOptions{validity: 2, scopes: "[openid, email, profile, ak_proxy]"}
	long := stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]"}
	with := func(o stackOptions, st session.Store) stackOptions { o.store = st; return o }

	t.Run("memory/expiry", func(t *testing.T) {
		st := newStackWith(t, short)
		conn := openEcho(t, st, browser(t))
		waitClosed(t, conn, 3*time.Second+time.Second)
	})
	t.Run("redis/expiry", func(t *testing.T) {
		st := newStackWith(t, with(short, redisStore(t, redistest.Start(t))))
		conn := openEcho(t, st, browser(t))
		waitClosed(t, conn, 3*time.Second+time.Second)
	})
	t.Run("memory/sweep", func(t *testing.T) {
		// The store's clock runs an hour ahead once the websocket is open,
		// as if the session had run out: the sweep ends it.
		var ahead atomic.Int64
		store := session.NewMemoryStore(session.MemoryOptions{SweepInterval: 50 * time.Millisecond,
			Now: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }})
		st := newStackWith(t, with(long, store))
		conn := openEcho(t, st, browser(t))
		ahead.Store(int64(time.Hour))
		waitClosed(t, conn, time.Second)
	})
	t.Run("memory/eviction for room", func(t *testing.T) {
		st := newStackWith(t, with(long, session.NewMemoryStore(session.MemoryOptions{MaxSessions: 1})))
		conn := openEcho(t, st, browser(t))
		mallory := openEchoAs(t, st, browser(t), "mallory", "mallory-pw")
		waitClosed(t, conn, time.Second)
		assertOpen(t, mallory)
	})
	t.Run("memory/one account's cap", func(t *testing.T) {
		st := newStackWith(t, with(long, session.NewMemoryStore(session.MemoryOptions{MaxSessionsPerSubject: 1})))
		mallory := openEchoAs(t, st, browser(t), "mallory", "mallory-pw")
		first := openEcho(t, st, browser(t))
		second := openEcho(t, st, browser(t))
		waitClosed(t, first, time.Second)
		assertOpen(t, second)
		assertOpen(t, mallory)
	})
}

// assertOpen checks that conn still echoes.
func assertOpen(t *testing.T, conn *websocket.Conn) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte("still")); err != nil {
		t.Fatalf("websocket closed: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || !strings.HasSuffix(string(msg), ": still") {
		t.Errorf("websocket of a live session: %q %v", msg, err)
	}
}
