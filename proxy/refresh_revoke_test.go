package proxy_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// noFollow is a client with c's cookies that shows redirects instead of
// following them.
func noFollow(c *http.Client) *http.Client {
	return &http.Client{Jar: c.Jar, Timeout: 20 * time.Second, Transport: c.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// withCookie is a GET of u carrying only the session cookie ck.
func withCookie(t *testing.T, c *http.Client, u string, ck *http.Cookie) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	resp, err := (&http.Client{Timeout: 20 * time.Second, Transport: c.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func sessionKeys(t *testing.T, rc *redis.Client) []string {
	t.Helper()
	return rc.Keys(context.Background(), "proxytest:s:*").Val()
}

// Issue 21 row 3: a session ended while its refresh is in flight (the core
// has issued the new tokens, its answer is still on the way) stays ended
// on both replicas: the request that refreshed is treated as signed out,
// the old cookie passes nowhere, and Redis holds no session.
func TestSessionEndedDuringRefreshStaysEnded(t *testing.T) {
	t.Parallel()
	const validity = 16 // seconds: refreshed in the last quarter, 4 s
	ends := []struct {
		name string
		// end ends the session of browser c, signed in as alice; other is
		// another browser of alice's, signed in before.
		end func(t *testing.T, st *stack, other *http.Client, replica session.Store, sub string)
	}{
		{"nothing ends it", nil},
		{"SESSION_END from the core", func(t *testing.T, st *stack, _ *http.Client, _ session.Store, _ string) {
			req, _ := http.NewRequest("POST", st.core+"/api/devcore/users/alice/end-sessions", nil)
			req.Header.Set("Authorization", "Bearer "+st.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if readBody(resp); resp.StatusCode != 200 {
				t.Fatalf("end-sessions: %d", resp.StatusCode)
			}
		}},
		{"sign-out in another browser on the other replica", func(t *testing.T, st *stack, other *http.Client, _ session.Store, _ string) {
			resp, err := st.onReplica(other).Get(st.outpost + "/outpost.goauthentik.io/sign_out")
			if err != nil {
				t.Fatal(err)
			}
			if readBody(resp); resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "end-session") {
				t.Fatalf("sign-out on the replica: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
		}},
		{"back-channel logout's scoped delete on the other replica", func(t *testing.T, _ *stack, _ *http.Client, replica session.Store, sub string) {
			if n, err := replica.DeleteBySubFor(context.Background(), "app-client", sub); err != nil || n == 0 {
				t.Fatalf("DeleteBySubFor = %d, %v", n, err)
			}
		}},
	}
	for _, tc := range ends {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			defer rc.Close()
			var grants atomic.Int32
			replica := redisStore(t, srv)
			st := newStackWith(t, stackOptions{validity: validity, scopes: "[openid, email, profile, ak_proxy, offline_access]",
				store: redisStore(t, srv), replicaStore: replica,
				refreshHook: func(url.Values) (int, time.Duration) {
					if grants.Add(1) == 1 {
						return 0, 2 * time.Second
					}
					return 0, 0
				}})
			c := browser(t)
			if resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"); readBody(resp) == "" || resp.StatusCode != 200 {
				t.Fatalf("login: %d", resp.StatusCode)
			}
			loggedIn := time.Now()
			sub := st.lastUpstream(t).Header.Get("X-Authentik-Uid")
			old := sessionCookie(t, c, st.outpost)
			time.Sleep(time.Until(loggedIn.Add(6 * time.Second)))
			other := browser(t)
			if resp := signIn(t, other, getPage(t, other, st.outpost+"/"), "alice", "alice-pw"); readBody(resp) == "" || resp.StatusCode != 200 {
				t.Fatalf("login of the other browser: %d", resp.StatusCode)
			}

			// 12.5 s after login, 3.5 s of the token are left: due for refresh.
			time.Sleep(time.Until(loggedIn.Add(12500 * time.Millisecond)))
			before := st.upstreamCount()
			done := make(chan *http.Response, 1)
			go func() {
				resp, err := noFollow(c).Get(st.outpost + "/during")
				if err != nil {
					t.Error(err)
				}
				done <- resp
			}()
			eventually(t, 5*time.Second, func() bool { return st.refreshGrants.Load() >= 1 })
			if tc.end != nil {
				time.Sleep(200 * time.Millisecond) // the core has answered by now
				tc.end(t, st, other, replica, sub)
				// Both of alice's sessions end, whichever way.
				eventually(t, time.Second, func() bool { return len(sessionKeys(t, rc)) == 0 })
			}
			resp := <-done
			if resp == nil {
				t.FailNow()
			}
			body := readBody(resp)
			if tc.end == nil {
				if resp.StatusCode != 200 || !strings.Contains(body, `as "alice"`) {
					t.Fatalf("refreshed request: %d %s", resp.StatusCode, body)
				}
				if ck := sessionCookie(t, c, st.outpost); ck == nil || ck.Value == old.Value {
					t.Error("the refreshed session was not handed out")
				}
				if len(sessionKeys(t, rc)) != 2 {
					t.Errorf("sessions in redis: %v", sessionKeys(t, rc))
				}
				return
			}
			if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/outpost.goauthentik.io/start") {
				t.Errorf("the request whose refresh lost to the end: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if st.upstreamCount() != before {
				t.Error("the request whose refresh lost to the end reached the app")
			}
			// The old cookie opens nothing on either replica, now or later.
			for i := range 3 {
				for name, cl := range map[string]*http.Client{"this replica": c, "the other replica": st.onReplica(c)} {
					resp := withCookie(t, cl, st.outpost+"/after", old)
					readBody(resp)
					if resp.StatusCode != http.StatusFound {
						t.Errorf("old cookie on %s (try %d): %d", name, i, resp.StatusCode)
					}
				}
				time.Sleep(300 * time.Millisecond)
			}
			if st.upstreamCount() != before {
				t.Error("an ended session reached the app")
			}
			if keys := sessionKeys(t, rc); len(keys) != 0 {
				t.Errorf("sessions left in redis: %v", keys)
			}
		})
	}
}
