package proxy_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/pgtest"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/session"
)

// The proxy on the PostgreSQL store: every way a session ends closes its
// websockets, on this replica and through NOTIFY on the others; a gap in
// the LISTEN connection is made up for; the database going away fails
// closed and recovers.

// Each case runs on its own schema of one server: a replica whose stack
// serves the websocket, and another replica (a store on the same schema)
// that ends the session, or not.
func TestPostgresWebsocketClosedWhenTheSessionEnds(t *testing.T) {
	srv := pgtest.Start(t)
	scopes := "[openid, email, profile, ak_proxy]"
	for i, tc := range []struct {
		name     string
		validity int // seconds; the session lives validity + 1
		cap      int // MaxSessionsPerSubject, 0: the default
		// end ends alice's session (sub is her uid); it returns checks of
		// what must still be open.
		end    func(t *testing.T, st *stack, other *session.PostgresStore, sub string) []func()
		within time.Duration
	}{
		{name: "sign-out on another replica", validity: 600, within: time.Second,
			end: func(t *testing.T, _ *stack, other *session.PostgresStore, sub string) []func() {
				if n, err := other.DeleteBySub(context.Background(), sub); err != nil || n != 1 {
					t.Fatalf("sign-out on the other replica: %d %v", n, err)
				}
				return nil
			}},
		{name: "SESSION_END from the core", validity: 600, within: time.Second,
			end: func(t *testing.T, st *stack, _ *session.PostgresStore, _ string) []func() {
				req, _ := http.NewRequest("POST", st.core+"/api/devcore/users/alice/end-sessions", nil)
				req.Header.Set("Authorization", "Bearer "+st.token)
				r, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if b := readBody(r); !strings.Contains(b, `"ended":1`) {
					t.Fatalf("end-sessions: %d %s", r.StatusCode, b)
				}
				return nil
			}},
		{name: "expiry", validity: 2, within: 3*time.Second + time.Second,
			end: func(*testing.T, *stack, *session.PostgresStore, string) []func() { return nil }},
		{name: "one account's cap", validity: 600, cap: 1, within: time.Second,
			end: func(t *testing.T, st *stack, _ *session.PostgresStore, _ string) []func() {
				second := openEcho(t, st, browser(t))
				return []func(){func() { assertOpen(t, second) }}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := session.PostgresOptions{Schema: fmt.Sprintf("ws_%d", i), MaxSessionsPerSubject: tc.cap}
			st := newStackWith(t, stackOptions{validity: tc.validity, scopes: scopes, store: pgtest.NewStore(t, srv, o)})
			other := pgtest.NewStore(t, srv, o)
			defer other.Close()
			c := browser(t)
			conn := openEcho(t, st, c)
			sub := st.lastUpstream(t).Header.Get("X-Authentik-Uid")
			if sub == "" {
				t.Fatal("no uid upstream")
			}
			mallory := openEchoAs(t, st, browser(t), "mallory", "mallory-pw")
			still := tc.end(t, st, other, sub)
			waitClosed(t, conn, tc.within)
			if tc.validity > 2 {
				assertOpen(t, mallory)
			}
			for _, f := range still {
				f()
			}
			if code, loc := as(t, sessionCookie(t, c, st.outpost), st.outpost, "/after"); !signedOutTo(code, loc) {
				t.Errorf("the ended session is still served: %d %s", code, loc)
			}
		})
	}
}

// A replica cut off from the database while the person signs out on
// another one misses the notification; once its LISTEN connection is back
// it checks its websockets' sessions again and closes this one.
func TestPostgresWebsocketClosedAfterListenGap(t *testing.T) {
	srv := pgtest.Start(t)
	relay := redistest.NewRelay(t, srv.Addr()) // any TCP server will do
	o := session.PostgresOptions{ConnString: strings.Replace(srv.URL(), srv.Addr(), relay.Addr(), 1), OpTimeout: time.Second}
	aStore := pgtest.NewStore(t, srv, o)
	a := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", store: aStore})
	b := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", store: pgtest.NewStore(t, srv, session.PostgresOptions{})})
	c := browser(t)
	conn := openEcho(t, a, c)
	ck := sessionCookie(t, c, a.outpost)
	if code, body := as(t, ck, b.outpost, "/on-b"); !servedAsAlice(code, body) {
		t.Fatalf("the session is not served on the other replica: %d %s", code, body)
	}
	relay.Cut()
	eventually(t, 3*time.Second, func() bool { return !aStore.Subscribed() })
	if code, loc := as(t, ck, b.outpost, "/outpost.goauthentik.io/sign_out"); code != http.StatusFound || !strings.Contains(loc, "end-session") {
		t.Fatalf("sign-out on b: %d %s", code, loc)
	}
	if code, _ := as(t, ck, a.outpost, "/while-cut"); code != http.StatusServiceUnavailable {
		t.Errorf("a, cut off from the database: %d, want 503", code)
	}
	time.Sleep(300 * time.Millisecond) // the notification is long sent
	relay.Restore()
	waitClosed(t, conn, 3*time.Second)
	if code, loc := as(t, ck, a.outpost, "/after"); !signedOutTo(code, loc) {
		t.Errorf("a serves the signed-out cookie once back: %d %s", code, loc)
	}
}

// The database goes away under a running outpost: browsers get the 503
// page and API clients JSON, for as long as it is gone, and nothing reaches
// the app; it comes back and the person is served without signing in anew.
func TestPostgresDownFailsClosed(t *testing.T) {
	srv := pgtest.Start(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
		store: pgtest.NewStore(t, srv, session.PostgresOptions{OpTimeout: time.Second})})
	c := browser(t)
	conn := openEcho(t, st, c)
	ck := sessionCookie(t, c, st.outpost)
	srv.Kill()
	before := st.upstreamCount()
	kinds := []struct {
		accept, contentType, body string
	}{
		{"text/html", "text/html", "Service unavailable"},
		{"application/json", "application/json", `"error"`},
	}
	// The cache stops trusting itself as soon as the LISTEN connection
	// drops, which a killed server does at once.
	for range 5 {
		for _, k := range kinds {
			resp := getPage(t, c, st.outpost+"/while-down", "Accept", k.accept)
			if body := readBody(resp); resp.StatusCode != http.StatusServiceUnavailable ||
				!strings.Contains(resp.Header.Get("Content-Type"), k.contentType) || !strings.Contains(body, k.body) {
				t.Fatalf("%s with the database down: %d %s %s", k.accept, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st.upstreamCount() != before {
		t.Fatal("a request reached the app while the session store was down")
	}
	srv.Restart()
	eventually(t, 10*time.Second, func() bool { return servedAsAlice(as(t, ck, st.outpost, "/back")) })
	assertOpen(t, conn) // an outage is not a sign-out
}
