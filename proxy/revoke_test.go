package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// openEcho signs c in as alice and opens a websocket through the outpost.
func openEcho(t *testing.T, st *stack, c *http.Client) *websocket.Conn {
	t.Helper()
	return openEchoAs(t, st, c, "alice", "alice-pw")
}

// openEchoAs is openEcho for another user.
func openEchoAs(t *testing.T, st *stack, c *http.Client, user, password string) *websocket.Conn {
	t.Helper()
	if resp := signIn(t, c, getPage(t, c, st.outpost+"/"), user, password); readBody(resp) == "" || resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	dialer := websocket.Dialer{Jar: c.Jar, HandshakeTimeout: 5 * time.Second}
	conn, _, err := dialer.Dial("ws"+strings.TrimPrefix(st.outpost, "http")+"/live", nil)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != user+": hi" {
		t.Fatalf("echo: %q %v", msg, err)
	}
	return conn
}

// waitClosed waits for the server to close conn and says how long it took.
func waitClosed(t *testing.T, conn *websocket.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(within + 2*time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatalf("websocket of a revoked session still open after %s", time.Since(start))
			}
			break
		}
	}
	took := time.Since(start)
	if took > within {
		t.Errorf("websocket closed %s after the revocation, want within %s", took, within)
	}
	return took
}

// SESSION_END from the core closes the person's open websockets, not only
// their next request.
func TestWebsocketClosedOnSessionEnd(t *testing.T) {
	st := newStack(t)
	c := browser(t)
	conn := openEcho(t, st, c)
	req, _ := http.NewRequest("POST", st.core+"/api/devcore/users/alice/end-sessions", nil)
	req.Header.Set("Authorization", "Bearer "+st.token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(r)
	waitClosed(t, conn, time.Second)
}

func redisStore(t *testing.T, srv *redistest.Server) *session.RedisStore {
	t.Helper()
	s, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: srv.Addr(), MaxRetries: -1, ReadTimeout: time.Second}, Prefix: "proxytest:"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// With sessions in Redis, a sign-out on another replica (here: another
// store on the same Redis) reaches this one at once: the cookie stops
// working and the open websocket is closed within a second.
func TestRedisRevocationFromAnotherReplica(t *testing.T) {
	srv := redistest.Start(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", store: redisStore(t, srv)})
	other := redisStore(t, srv)
	defer other.Close()
	c := browser(t)
	conn := openEcho(t, st, c)
	sub := st.lastUpstream(t).Header.Get("X-Authentik-Uid")
	if sub == "" {
		t.Fatal("no uid upstream")
	}
	// Warm this replica's cache.
	readBody(getPage(t, c, st.outpost+"/warm"))
	if n, err := other.DeleteBySub(context.Background(), sub); err != nil || n != 1 {
		t.Fatalf("sign-out on the other replica: %d %v", n, err)
	}
	waitClosed(t, conn, time.Second)
	noFollow := &http.Client{Jar: c.Jar, Transport: webtest.Navigating(nil), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(st.outpost + "/after")
	if err != nil {
		t.Fatal(err)
	}
	readBody(resp)
	if resp.StatusCode != http.StatusFound {
		t.Errorf("revoked session served: %d", resp.StatusCode)
	}
}

// Redis down: a signed-in request gets a clear 503 (a page for browsers,
// JSON for API clients) and never reaches the app; Redis back: the person
// is served again without signing in anew.
func TestRedisDownIs503AndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", store: redisStore(t, srv)})
	c := browser(t)
	if resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"); readBody(resp) == "" || resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	srv.Kill()
	// A session read a moment ago may be served from the replica's cache
	// until the cache stops trusting itself: at most a second after the
	// pub/sub link goes quiet (no revocation can happen meanwhile, Redis
	// being down). From then on every request is refused.
	eventually(t, 3*time.Second, func() bool {
		resp := getPage(t, c, st.outpost+"/while-down")
		readBody(resp)
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	before := st.upstreamCount()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		resp := getPage(t, c, st.outpost+"/while-down")
		body := readBody(resp)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Service unavailable") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("with redis down: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp := getPage(t, c, st.outpost+"/api/x", "Accept", "application/json")
	if body := readBody(resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"error"`) {
		t.Errorf("API client with redis down: %d %s", resp.StatusCode, body)
	}
	if st.upstreamCount() != before {
		t.Fatal("a request reached the app while the session store was down")
	}
	srv.Restart()
	eventually(t, 5*time.Second, func() bool {
		resp := getPage(t, c, st.outpost+"/back")
		body := readBody(resp)
		return resp.StatusCode == 200 && strings.Contains(body, `as "alice"`)
	})
}

func eventually(t *testing.T, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
