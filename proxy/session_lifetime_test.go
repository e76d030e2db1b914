package proxy_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/internal/testissuer"
	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
)

// Issue 22 item 10: a session outlives its access token. The test issuer
// issues 2-second tokens with refresh tokens (each redeemable once, so a
// second redemption would be refused and end the session).
const shortToken = 2 * time.Second

// lifetimeStack is a standalone provider at a test issuer, served by one
// outpost per store given (replicas sharing those stores' sessions).
type lifetimeStack struct {
	issuer   *testissuer.Issuer
	external string   // the provider's external host, served by replicas[0]
	replicas []string // host:port of each replica
}

func newLifetimeStack(t *testing.T, opts testissuer.Options, extraYAML string, stores ...session.Store) *lifetimeStack {
	t.Helper()
	users := map[string]testissuer.User{"dana": {Password: "pw", Claims: map[string]any{"email": "dana@example.com"}}}
	st := &lifetimeStack{issuer: testissuer.StartWith(t, users, opts)}
	up := websocket.Upgrader{}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/live" {
			// A websocket that says something every 200 ms while it is open.
			conn, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer conn.Close()
			for {
				if err := conn.WriteMessage(websocket.TextMessage, []byte("tick")); err != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(app.Close)
	var lns []net.Listener
	for range stores {
		ln := listen(t)
		lns = append(lns, ln)
		st.replicas = append(st.replicas, ln.Addr().String())
	}
	st.external = "http://" + st.replicas[0]
	for i, store := range stores {
		snap, err := outpostapi.ParseStatic([]byte(fmt.Sprintf(`
outpost: {name: lifetime}
providers:
  - name: app
    external_host: %s
    internal_host: %s
    issuer: %s
    client_id: app-client
    client_secret: app-secret
    cookie_secret: lifetime-cookie-secret-0123
%s`, st.external, app.URL, st.issuer.URL, extraYAML)), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		srv := proxy.New(proxy.Options{Log: slog.New(slog.DiscardHandler), Store: store, Version: "0.1.0"})
		if failed := srv.Update(snap); len(failed) > 0 {
			t.Fatal(failed)
		}
		front := proxy.NewHTTPServer(srv)
		go func() { _ = front.Serve(lns[i]) }()
		t.Cleanup(func() { _ = front.Close(); _ = store.Close() })
	}
	return st
}

// via is c's cookies and behaviour sent to replica i, redirects not followed.
func (st *lifetimeStack) via(c *http.Client, i int) *http.Client {
	var d net.Dialer
	addr := st.replicas[i]
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	return &http.Client{Jar: c.Jar, Timeout: 20 * time.Second, Transport: webtest.Navigating(tr),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn signs dana in and returns when it happened.
func (st *lifetimeStack) signIn(t *testing.T, c *http.Client) time.Time {
	t.Helper()
	resp := signIn(t, c, getPage(t, c, st.external+"/"), "dana", "pw")
	at := time.Now()
	if body := readBody(resp); resp.StatusCode != 200 || body != "hello dana" {
		t.Fatalf("sign-in: %d %q", resp.StatusCode, body)
	}
	return at
}

// get is one request on replica i: "200 <body>" or "302 <sign-in path>".
func (st *lifetimeStack) get(t *testing.T, c *http.Client, i int, path string) string {
	t.Helper()
	resp, err := st.via(c, i).Get(st.external + path)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(resp)
	if resp.StatusCode == http.StatusFound {
		loc := resp.Header.Get("Location")
		if strings.Contains(loc, "/outpost.goauthentik.io/start") || strings.HasPrefix(loc, st.issuer.URL) {
			return "302 sign-in"
		}
		return "302 " + loc
	}
	return fmt.Sprint(resp.StatusCode, " ", body)
}

func memoryStore() session.Store { return session.NewMemoryStore(session.MemoryOptions{}) }

// A user idle past the token's expiry is served on the next request, which
// refreshes the session once: in memory, and in Redis across two replicas
// that both see the expired token at once.
func TestSessionOutlivesItsToken(t *testing.T) {
	t.Parallel()
	opts := testissuer.Options{TokenLife: shortToken, RefreshTokens: true}
	for _, tc := range []struct {
		name   string
		stores func(t *testing.T) []session.Store
	}{
		{"memory", func(*testing.T) []session.Store { return []session.Store{memoryStore()} }},
		{"redis, two replicas", func(t *testing.T) []session.Store {
			srv := redistest.Start(t)
			return []session.Store{redisStore(t, srv), redisStore(t, srv)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newLifetimeStack(t, opts, "", tc.stores(t)...)
			c := browser(t)
			at := st.signIn(t, c)
			time.Sleep(time.Until(at.Add(3500 * time.Millisecond))) // idle past the token's expiry
			var wg sync.WaitGroup
			got := make(chan string, 20)
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got <- st.get(t, c, i%len(st.replicas), "/after-idle")
				}()
			}
			wg.Wait()
			close(got)
			for g := range got {
				if g != "200 hello dana" {
					t.Errorf("a request after the token expired: %q", g)
				}
			}
			if n, refused := st.issuer.RefreshGrants(), st.issuer.RefusedRefreshes(); n != 1 || refused != 0 {
				t.Errorf("refresh grants: %d answered, %d refused; want exactly 1 and 0", n, refused)
			}
			// And again, after the refreshed token expired in its turn.
			time.Sleep(3 * time.Second)
			for i := range st.replicas {
				if g := st.get(t, c, i, "/later"); g != "200 hello dana" {
					t.Errorf("replica %d, a second idle period later: %q", i, g)
				}
			}
			if n := st.issuer.RefreshGrants(); n != 2 {
				t.Errorf("refresh grants after the second idle period: %d, want 2", n)
			}
		})
	}
}

// The session lifetime bounds a session however often it is refreshed; a
// websocket stays open across the token's expiry while the session lives
// and closes when it ends; a refused refresh ends the session; a refresh
// token's own validity (refresh_expires_in) ends an idle session.
func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) session.Store{
		"memory": func(*testing.T) session.Store { return memoryStore() },
		"redis":  func(t *testing.T) session.Store { return redisStore(t, redistest.Start(t)) },
	}
	for name, store := range stores {
		t.Run(name+"/past session_lifetime signs in again, websocket closes then", func(t *testing.T) {
			t.Parallel()
			st := newLifetimeStack(t, testissuer.Options{TokenLife: shortToken, RefreshTokens: true}, "    session_lifetime: 5s\n", store(t))
			c := browser(t)
			at := st.signIn(t, c)
			conn, _, err := (&websocket.Dialer{Jar: c.Jar, HandshakeTimeout: 5 * time.Second}).Dial("ws"+strings.TrimPrefix(st.external, "http")+"/live", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Past the token's expiry, with no request to refresh it: the
			// websocket is still open, since the session lives.
			_ = conn.SetReadDeadline(at.Add(4500 * time.Millisecond))
			for time.Now().Before(at.Add(3500 * time.Millisecond)) {
				if _, _, err := conn.ReadMessage(); err != nil {
					t.Fatalf("websocket closed %s after sign-in, the session lives 5 s: %v", time.Since(at), err)
				}
			}
			if g := st.get(t, c, 0, "/refreshed"); g != "200 hello dana" {
				t.Errorf("inside the session lifetime: %q", g)
			}
			// At the session's end (5 s) the websocket closes.
			_ = conn.SetReadDeadline(at.Add(7 * time.Second))
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatalf("websocket still open %s after sign-in", time.Since(at))
					}
					break
				}
			}
			if closed := time.Since(at); closed < 4800*time.Millisecond {
				t.Errorf("websocket closed after %s, before the session's end", closed)
			}
			if g := st.get(t, c, 0, "/too-late"); g != "302 sign-in" {
				t.Errorf("past session_lifetime (the refreshed token is still valid): %q", g)
			}
			if n := st.issuer.RefreshGrants(); n != 1 {
				t.Errorf("refresh grants: %d, want 1", n)
			}
		})
		t.Run(name+"/a refused refresh ends the session", func(t *testing.T) {
			t.Parallel()
			st := newLifetimeStack(t, testissuer.Options{TokenLife: shortToken, RefreshTokens: true}, "", store(t))
			c := browser(t)
			at := st.signIn(t, c)
			old := sessionCookie(t, c, st.external)
			st.issuer.RefuseRefresh()
			time.Sleep(time.Until(at.Add(3 * time.Second)))
			if g := st.get(t, c, 0, "/refused"); g != "302 sign-in" {
				t.Errorf("after a refused refresh: %q", g)
			}
			if sessionCookie(t, c, st.external) != nil {
				t.Error("the session cookie was not expired")
			}
			// The old cookie opens nothing, and the issuer is not asked again.
			if resp := withCookie(t, c, st.external+"/replay", old); resp.StatusCode != http.StatusFound {
				t.Errorf("the old cookie: %d", resp.StatusCode)
			}
			if n := st.issuer.RefusedRefreshes(); n != 1 {
				t.Errorf("refused refresh grants: %d, want 1", n)
			}
		})
		t.Run(name+"/an issuer that is down keeps the expired session for a retry", func(t *testing.T) {
			t.Parallel()
			st := newLifetimeStack(t, testissuer.Options{TokenLife: shortToken, RefreshTokens: true}, "", store(t))
			c := browser(t)
			at := st.signIn(t, c)
			st.issuer.SetRefreshDown(true)
			time.Sleep(time.Until(at.Add(3 * time.Second)))
			for _, path := range []string{"/down", "/down-again"} {
				if g := st.get(t, c, 0, path); !strings.HasPrefix(g, "503 ") {
					t.Errorf("%s, the token expired and the issuer down: %q", path, g)
				}
			}
			if n := st.issuer.UnavailableRefreshes(); n != 1 {
				t.Errorf("refresh grants sent to the issuer while it was down: %d, want 1 (then a backoff)", n)
			}
			st.issuer.SetRefreshDown(false)
			time.Sleep(2100 * time.Millisecond) // the first backoff is 2 s
			if g := st.get(t, c, 0, "/back"); g != "200 hello dana" {
				t.Errorf("the issuer back: %q", g)
			}
			if n := st.issuer.RefreshGrants(); n != 1 {
				t.Errorf("refresh grants: %d, want 1", n)
			}
		})
		t.Run(name+"/refresh_expires_in: idle past it signs in again, active sessions slide", func(t *testing.T) {
			t.Parallel()
			st := newLifetimeStack(t, testissuer.Options{TokenLife: shortToken, RefreshTokens: true, RefreshExpiresIn: 4 * time.Second}, "", store(t))
			active, idle := browser(t), browser(t)
			at := st.signIn(t, active)
			st.signIn(t, idle)
			time.Sleep(time.Until(at.Add(3 * time.Second)))
			if g := st.get(t, active, 0, "/active"); g != "200 hello dana" {
				t.Errorf("refreshed inside refresh_expires_in: %q", g)
			}
			// 6 s: the idle session's refresh token ran out at 4 s; the
			// active one's was renewed at 3 s, until 7 s.
			time.Sleep(time.Until(at.Add(6 * time.Second)))
			if g := st.get(t, active, 0, "/active-again"); g != "200 hello dana" {
				t.Errorf("active session past the first refresh token's validity: %q", g)
			}
			if g := st.get(t, idle, 0, "/idle"); g != "302 sign-in" {
				t.Errorf("idle past refresh_expires_in: %q", g)
			}
			if n, refused := st.issuer.RefreshGrants(), st.issuer.RefusedRefreshes(); n != 2 || refused != 0 {
				t.Errorf("refresh grants: %d answered, %d refused; want 2 and 0 (the idle session ended without asking)", n, refused)
			}
		})
	}
}

// cookieAges records the Max-Age of every session cookie a response sets.
type cookieAges struct {
	base http.RoundTripper
	mu   sync.Mutex
	ages []int
}

func (s *cookieAges) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(r)
	if err == nil {
		for _, ck := range resp.Cookies() {
			if ck.Name == session.CookieName("app-client") && ck.MaxAge > 0 {
				s.mu.Lock()
				s.ages = append(s.ages, ck.MaxAge)
				s.mu.Unlock()
			}
		}
	}
	return resp, err
}

func (s *cookieAges) last() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ages) == 0 {
		return 0
	}
	return s.ages[len(s.ages)-1]
}

// A core's provider keeps authentik's session: access_token_validity + 1 s
// from sign-in, the cookie's Max-Age at sign-in (spec §14.2). A refresh
// inside it renews the token but does not extend the session.
func TestCoreSessionKeepsAccessTokenValidity(t *testing.T) {
	t.Parallel()
	const validity = 4 // seconds: refreshed in the last second
	st := newStackWith(t, stackOptions{validity: validity, scopes: "[openid, email, profile, ak_proxy, offline_access]"})
	c := browser(t)
	rec := &cookieAges{base: c.Transport}
	c.Transport = rec
	resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw")
	loggedIn := time.Now()
	if readBody(resp); resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if got := rec.last(); got != validity+1 {
		t.Errorf("session cookie Max-Age at sign-in: %d, want access_token_validity + 1 = %d", got, validity+1)
	}
	exp := tokenExpiry(t, st)
	time.Sleep(time.Until(exp.Add(-600 * time.Millisecond)))
	if body := readBody(getPage(t, c, st.outpost+"/refresh")); !strings.Contains(body, `as "alice"`) {
		t.Fatalf("inside the refresh window: %q", body)
	}
	if n := st.refreshGrants.Load(); n != 1 {
		t.Fatalf("refresh grants: %d, want 1", n)
	}
	// The refreshed cookie still ends with the session, not the new token.
	left := int(math.Ceil(time.Until(loggedIn.Add((validity + 1) * time.Second)).Seconds()))
	if got := rec.last(); got > left {
		t.Errorf("session cookie Max-Age after the refresh: %d, want what is left of the session (<= %d)", got, left)
	}
	cookie := sessionCookie(t, c, st.outpost)
	if cookie == nil {
		t.Fatal("no session cookie after the refresh")
	}
	// Past access_token_validity + 1 s: the refreshed token is still valid,
	// the session is not.
	time.Sleep(time.Until(loggedIn.Add((validity + 1) * time.Second).Add(300 * time.Millisecond)))
	resp = withCookie(t, c, st.outpost+"/too-late", cookie)
	if readBody(resp); resp.StatusCode != http.StatusFound {
		t.Errorf("past access_token_validity + 1 s: %d, want a sign-in redirect", resp.StatusCode)
	}
}
