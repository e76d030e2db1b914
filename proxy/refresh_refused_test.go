package proxy_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Issue 21 row 10: how a failed refresh is answered depends on why it
// failed. The identity provider refusing the refresh token (invalid_grant,
// here for real: the devcore is handed a token it never issued) ends the
// session on every replica at once, websockets included; a provider that
// is down (503) is asked again only after a backoff while the token holds,
// and once the token has expired the request is refused.
func TestRefreshFailures(t *testing.T) {
	t.Parallel()
	const validity = 8 // seconds: refreshed in the last quarter, 2 s
	scopes := "[openid, email, profile, ak_proxy, offline_access]"

	t.Run("invalid_grant ends the session everywhere", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		defer rc.Close()
		st := newStackWith(t, stackOptions{validity: validity, scopes: scopes, store: redisStore(t, srv), replicaStore: redisStore(t, srv),
			refreshHook: func(form url.Values) (int, time.Duration) {
				form.Set("refresh_token", "not-one-the-core-issued")
				return 0, 0
			}})
		c := browser(t)
		if resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"); readBody(resp) == "" || resp.StatusCode != 200 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		exp := tokenExpiry(t, st)
		old := sessionCookie(t, c, st.outpost)
		// A websocket through the other replica.
		var d net.Dialer
		dialer := websocket.Dialer{Jar: c.Jar, HandshakeTimeout: 5 * time.Second,
			NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, st.replicaAddr)
			}}
		conn, _, err := dialer.Dial("ws"+strings.TrimPrefix(st.outpost, "http")+"/live", nil)
		if err != nil {
			t.Fatalf("websocket on the replica: %v", err)
		}
		defer conn.Close()

		time.Sleep(time.Until(exp.Add(-1500 * time.Millisecond)))
		before := st.upstreamCount()
		resp, err := noFollow(c).Get(st.outpost + "/refused")
		if err != nil {
			t.Fatal(err)
		}
		readBody(resp)
		if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/outpost.goauthentik.io/start") {
			t.Errorf("request whose refresh was refused: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		waitClosed(t, conn, time.Second)
		// Still inside the old token's lifetime: the old cookie passes on
		// neither replica, and nothing asks the core again.
		for i := range 10 {
			for name, cl := range map[string]*http.Client{"this replica": c, "the other replica": st.onReplica(c)} {
				resp := withCookie(t, cl, st.outpost+"/after", old)
				readBody(resp)
				if resp.StatusCode != http.StatusFound {
					t.Errorf("old cookie on %s (try %d): %d", name, i, resp.StatusCode)
				}
			}
		}
		if st.upstreamCount() != before {
			t.Error("a session whose refresh was refused reached the app")
		}
		if n := st.refreshGrants.Load(); n != 1 {
			t.Errorf("the core saw %d refresh grants, want 1", n)
		}
		if keys := sessionKeys(t, rc); len(keys) != 0 {
			t.Errorf("sessions left in redis: %v", keys)
		}
	})

	t.Run("a provider that is down is asked again after a backoff", func(t *testing.T) {
		t.Parallel()
		st := newStackWith(t, stackOptions{validity: validity, scopes: scopes,
			refreshHook: func(url.Values) (int, time.Duration) { return http.StatusServiceUnavailable, 0 }})
		c := browser(t)
		if resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"); readBody(resp) == "" || resp.StatusCode != 200 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		exp := tokenExpiry(t, st)
		old := sessionCookie(t, c, st.outpost)
		// From 1.8 s before its expiry the token is due (the last quarter
		// of 8 s): every request is served, and the core is asked once.
		time.Sleep(time.Until(exp.Add(-1800 * time.Millisecond)))
		requests := 0
		// (The cookie's Max-Age is whole seconds: it may leave the jar up to
		// a second before the token expires.)
		for time.Now().Before(exp.Add(-time.Second)) {
			resp, err := noFollow(c).Get(st.outpost + "/busy")
			if err != nil {
				t.Fatal(err)
			}
			if body := readBody(resp); resp.StatusCode != 200 || !strings.Contains(body, `as "alice"`) {
				t.Fatalf("request %d while the core is down, token still valid: %d %s", requests, resp.StatusCode, body)
			}
			requests++
			time.Sleep(50 * time.Millisecond)
		}
		if n := st.refreshGrants.Load(); n != 1 || requests < 8 {
			t.Errorf("%d requests sent %d refresh grants, want 1", requests, n)
		}
		// The token has expired and the core is still down: refused.
		time.Sleep(time.Until(exp.Add(300 * time.Millisecond)))
		before := st.upstreamCount()
		resp := withCookie(t, c, st.outpost+"/expired", old)
		body := readBody(resp)
		if resp.StatusCode == 200 || st.upstreamCount() != before {
			t.Errorf("an expired token whose refresh failed was served: %d %s %v (%d grants)", resp.StatusCode, body, resp.Header, st.refreshGrants.Load())
		}
	})
}

// tokenExpiry is when the access token the upstream last received expires
// (its exp, which the core rounds down to the second).
func tokenExpiry(t *testing.T, st *stack) time.Time {
	t.Helper()
	parts := strings.Split(st.lastUpstream(t).Header.Get("X-Authentik-Jwt"), ".")
	if len(parts) != 3 {
		t.Fatal("no JWT upstream")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.Exp == 0 {
		t.Fatalf("JWT claims %s: %v", raw, err)
	}
	return time.Unix(claims.Exp, 0)
}
