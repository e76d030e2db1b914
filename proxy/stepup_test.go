package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/devcore"
	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/internal/testissuer"
	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
)

// stepUpStack is a standalone outpost whose issuer is the devcore (RS256),
// with step-up rules: "app" in proxy mode and "fwd" behind the real nginx
// with the shipped files, in front of an app that records every path it
// is asked for. alice reaches acr "mfa" at the devcore, bob does not.
// The rules fold letter case (paths_case_insensitive), as for an app that
// routes without it: /ADMIN is the admin console too.
type stepUpStack struct {
	core, app, nginx string        // base URLs
	caddy, upstream  string        // Caddy's base URL (see startCaddy) and the app's
	store            session.Store // replica 0's
	replicas         []string      // host:port of each outpost replica
	metrics          *metrics.Metrics
	logs             *proctest.Buffer
	mu               sync.Mutex
	seen             []string // "host path as user"
}

const stepUpRules = `    allowed_groups: [ops]
    paths_case_insensitive: true
    paths:
      - prefix: /admin
        allowed_groups: [ops]
        max_auth_age: 10m
      - prefix: /silences
        methods: [POST]
        allowed_groups: [ops]
        max_auth_age: 10m
      - prefix: /mfa
        allowed_groups: [ops]
        acr_values: [mfa]
`

const stepUpCookieSecret = "stepup-cookie-secret-0123456789"

func newStepUpStack(t *testing.T) *stepUpStack {
	t.Helper()
	return newStepUpStackOn(t, memoryStore())
}

// newStepUpStackOn is the stack with one outpost replica per store, all
// serving the same file; the app's external host is replica 0's address.
func newStepUpStackOn(t *testing.T, stores ...session.Store) *stepUpStack {
	t.Helper()
	coreLn, nginxLn, caddyLn := listen(t), reserve(t), reserve(t)
	var outLns []net.Listener
	for range stores {
		outLns = append(outLns, listen(t))
	}
	outLn := outLns[0]
	nginxAddr := nginxLn.Addr().String()
	nginxLn.Close()
	caddyAddr := caddyLn.Addr().String()
	caddyLn.Close()
	s := &stepUpStack{core: "http://" + coreLn.Addr().String(), app: "http://" + outLn.Addr().String(), nginx: "http://" + nginxAddr,
		caddy: "http://" + caddyAddr,
		store: stores[0], metrics: metrics.New("u", "0.1.0", ""), logs: &proctest.Buffer{}}
	for _, st := range stores {
		t.Cleanup(func() { _ = st.Close() })
	}
	// The devcore's side of each provider the outpost serves below.
	coreProvider := func(name, external string) string {
		return fmt.Sprintf(`  - name: %[1]s
    external_host: %[2]s
    internal_host: http://127.0.0.1:1
    client_id: %[1]s-client
    client_secret: %[1]s-client-secret
    cookie_secret: unused-by-the-devcore-0123
    signing_key: issuer-key
    redirect_uris: [%[2]s/outpost.goauthentik.io/callback]
`, name, external)
	}
	cfg, err := devcore.ParseConfig([]byte(`
certificates:
  - name: issuer-key
    key_type: rsa
providers:
` + coreProvider("app", s.app) + coreProvider("fwd", s.nginx) + coreProvider("cad", s.caddy) + fmt.Sprintf(`groups:
  - name: ops
users:
  - username: alice
    password_hash: %[1]q
    groups: [ops]
    acr: [mfa]
    app_passwords: [%[2]q]
  - username: bob
    password_hash: %[1]q
    groups: [ops]
`, hash(t, "pw"), hash(t, "app-pw"))))
	if err != nil {
		t.Fatal(err)
	}
	core, err := devcore.New(cfg, devcore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = core.Serve(t.Context(), coreLn) }()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Method+" "+r.URL.Path+" as "+r.Header.Get("X-Authentik-Username"))
		s.mu.Unlock()
		fmt.Fprintf(w, "app: %s %s as %s", r.Method, r.URL.Path, r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(up.Close)
	s.upstream = up.URL
	provider := func(name, mode, external string) string {
		return fmt.Sprintf(`  - name: %[1]s
    mode: %[2]s
    external_host: %[3]s
    internal_host: %[4]s
    issuer: %[5]s/application/o/%[1]s/
    client_id: %[1]s-client
    client_secret: %[1]s-client-secret
    cookie_secret: %[6]s
%[7]s`, name, mode, external, up.URL, s.core, stepUpCookieSecret, stepUpRules)
	}
	doc := "outpost: {name: stepup}\nproviders:\n" + provider("app", "proxy", s.app) + provider("fwd", "forward_single", s.nginx) +
		provider("cad", "forward_single", s.caddy)
	for i, ln := range outLns {
		s.replicas = append(s.replicas, ln.Addr().String())
		serveStandalone(t, ln, doc, proxy.Options{Store: stores[i], Metrics: s.metrics.Proxy, Log: slog.New(slog.NewJSONHandler(s.logs, nil))})
	}
	runNginxServers(t, nginxAddr, outLn.Addr().String(), "../deploy/nginx", nginxServer{app: up.URL})
	return s
}

// startCaddy runs the real Caddy in front of the app at s.caddy, with the
// shipped snippet asking replica 0 (provider "cad").
func (s *stepUpStack) startCaddy(t *testing.T) {
	t.Helper()
	runCaddy(t, strings.TrimPrefix(s.caddy, "http://"), s.replicas[0], caddySite{s.caddy, s.upstream})
}

// upstreamSaw reports whether the app was asked for path.
func (s *stepUpStack) upstreamSaw(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.seen {
		if strings.Contains(r, " "+path+" ") {
			return true
		}
	}
	return false
}

// upstreamCount is how many times the app saw the request "METHOD path as user".
func (s *stepUpStack) upstreamCount(req string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.seen {
		if r == req {
			n++
		}
	}
	return n
}

// sessionOf is the session the browser's cookie for site names, read from
// the store as the outpost reads it.
func (s *stepUpStack) sessionOf(t *testing.T, c *http.Client, site, clientID string) *session.Session {
	t.Helper()
	codec, err := session.NewCodec(session.CookieOptions{ClientID: clientID, CookieSecret: stepUpCookieSecret, MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(site)
	req := &http.Request{Header: http.Header{}}
	for _, ck := range c.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	id, err := codec.SessionID(req)
	if err != nil {
		t.Fatalf("no session cookie for %s: %v", site, err)
	}
	got, err := s.store.Get(session.WithoutCache(t.Context()), id)
	if err != nil {
		t.Fatalf("session %s: %v", id, err)
	}
	return got
}

// age makes the browser's session look signed in an hour ago, as it
// would be after an hour: only the server can do that.
func (s *stepUpStack) age(t *testing.T, c *http.Client, site, clientID string) *session.Session {
	t.Helper()
	old := s.sessionOf(t, c, site, clientID).Clone()
	old.Claims["auth_time"] = float64(time.Now().Add(-time.Hour).Unix())
	if err := s.store.Save(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	return old
}

func (s *stepUpStack) stepUps(t *testing.T, host, result string) float64 {
	t.Helper()
	return sample(scrapeText(t, s.metrics), fmt.Sprintf(`outpost_step_up_total{host=%q,result=%q}`, host, result))
}

// viaReplica is c (without following redirects) reaching replica i
// whatever the URL's host, as a load balancer would send it.
func (s *stepUpStack) viaReplica(c *http.Client, i int) *http.Client {
	var d net.Dialer
	addr := s.replicas[i]
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
	return &http.Client{Jar: c.Jar, Timeout: 20 * time.Second, Transport: webtest.Navigating(tr),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// A browser whose session's sign-in is older than max_auth_age is sent to
// sign in again (prompt=login, max_age), comes back to the same URL with
// the same session, and other tabs and paths keep working: in memory, and
// on Redis with the second tab on another replica (its read cache sees
// the update).
func TestStepUpBrowser(t *testing.T) {
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
		t.Run(tc.name, func(t *testing.T) { testStepUpBrowser(t, newStepUpStackOn(t, tc.stores(t)...)) })
	}
}

func testStepUpBrowser(t *testing.T, s *stepUpStack) {
	host := strings.TrimPrefix(s.app, "http://")
	other := len(s.replicas) - 1 // the second tab's replica
	c := browser(t)
	resp := signIn(t, c, getPage(t, c, s.app+"/admin/users?page=2"), "alice", "pw")
	if body := readBody(resp); resp.StatusCode != 200 || body != "app: GET /admin/users as alice" {
		t.Fatalf("a fresh sign-in on /admin: %d %q", resp.StatusCode, body)
	}
	before := s.age(t, c, s.app, "app-client")

	t.Run("other paths keep working", func(t *testing.T) {
		// Read on the second tab's replica too, so that its cache holds
		// the old sign-in when the step-up lands elsewhere.
		if resp := getPage(t, s.viaReplica(c, other), s.app+"/graph"); resp.StatusCode != 200 {
			t.Errorf("/graph on replica %d: %d", other, resp.StatusCode)
		}
		resp := getPage(t, c, s.app+"/graph")
		if body := readBody(resp); resp.StatusCode != 200 || body != "app: GET /graph as alice" {
			t.Errorf("/graph with an old sign-in: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("the step-up path asks for a fresh sign-in", func(t *testing.T) {
		resp := getPage(t, noFollow(c), s.app+"/admin/users?page=2")
		readBody(resp)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.app+"/outpost.goauthentik.io/start?max_age=600&rd=") {
			t.Fatalf("step-up: %d to %q", resp.StatusCode, loc)
		}
		resp = getPage(t, noFollow(c), loc)
		readBody(resp)
		authz, _ := url.Parse(resp.Header.Get("Location"))
		if q := authz.Query(); q.Get("prompt") != "login" || q.Get("max_age") != "600" || !strings.HasPrefix(authz.String(), s.core) {
			t.Errorf("the authorization request lacks prompt=login and max_age: %s", authz)
		}
		if n := s.upstreamCount("GET /admin/users as alice"); n != 1 {
			t.Errorf("the app saw /admin/users %d times, want only the first sign-in's", n)
		}
	})
	tab2 := browser(t)
	u, _ := url.Parse(s.app)
	tab2.Jar.SetCookies(u, c.Jar.Cookies(u))
	t.Run("signing in again lands on the same URL with the same session", func(t *testing.T) {
		resp := getPage(t, c, s.app+"/admin/users?page=2")
		if !strings.HasPrefix(resp.Request.URL.String(), s.core+"/application/o/authorize/") {
			t.Fatalf("not at the devcore's form (prompt=login): %s", resp.Request.URL)
		}
		resp = signIn(t, c, resp, "alice", "pw")
		if body := readBody(resp); resp.StatusCode != 200 || resp.Request.URL.String() != s.app+"/admin/users?page=2" || body != "app: GET /admin/users as alice" {
			t.Fatalf("after the step-up: %d at %s: %q", resp.StatusCode, resp.Request.URL, body)
		}
		after := s.sessionOf(t, c, s.app, "app-client")
		if after.ID != before.ID {
			t.Errorf("the step-up made a new session %s, want %s updated in place", after.ID, before.ID)
		}
		at, _ := after.Claims["auth_time"].(float64)
		if time.Since(time.Unix(int64(at), 0)) > time.Minute {
			t.Errorf("auth_time not fresh: %v", after.Claims["auth_time"])
		}
		if n, _ := s.store.Len(t.Context()); n != 1 {
			t.Errorf("%d sessions, want the one", n)
		}
	})
	t.Run("a second tab with the same cookie passes too", func(t *testing.T) {
		// Another replica sees the update once the store's invalidation
		// reaches its read cache: milliseconds (docs/step-up.md).
		var code int
		var body string
		for end := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp := getPage(t, s.viaReplica(tab2, other), s.app+"/admin/x")
			code, body = resp.StatusCode, readBody(resp)
			if code == 200 || time.Now().After(end) {
				break
			}
		}
		if code != 200 || body != "app: GET /admin/x as alice" {
			t.Errorf("the other tab: %d %q", code, body)
		}
	})
	// Satisfied twice: the first sign-in, started for /admin, asked for
	// the step-up at once; then the step-up itself.
	if s.stepUps(t, host, "required") < 1 || s.stepUps(t, host, "satisfied") != 2 || s.stepUps(t, host, "refused") != 0 {
		t.Errorf("step-up metrics: required %v satisfied %v refused %v", s.stepUps(t, host, "required"),
			s.stepUps(t, host, "satisfied"), s.stepUps(t, host, "refused"))
	}
}

// Machine clients, and background requests of a page, get RFC 9470's
// challenge instead of a login page; the app never sees the request.
func TestStepUpMachineClients(t *testing.T) {
	s := newStepUpStack(t)
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, s.app+"/"), "alice", "pw"))
	s.age(t, c, s.app, "app-client")
	for _, tc := range []struct {
		name, method, path string
		header             []string
		challenge          []string // parts of WWW-Authenticate
	}{
		{"fetch asking for JSON", "GET", "/admin/api", []string{"Accept", "application/json"},
			[]string{`error="insufficient_user_authentication"`, "max_age=600", `resource_metadata="` + s.app + `/.well-known/oauth-protected-resource"`}},
		{"X-Requested-With", "GET", "/admin/xhr", []string{"X-Requested-With", "XMLHttpRequest", "Accept", "*/*"},
			[]string{`error="insufficient_user_authentication"`, "max_age=600"}},
		{"a POST to a method rule", "POST", "/silences/s1", []string{"Accept", "application/json"},
			[]string{`error="insufficient_user_authentication"`, "max_age=600"}},
		{"an acr rule", "GET", "/mfa/keys", []string{"Accept", "application/json"},
			[]string{`error="insufficient_user_authentication"`, `acr_values="mfa"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.app+tc.path, nil)
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			resp, err := noFollow(c).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			ch := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(body, "insufficient_user_authentication") {
				t.Fatalf("%d %q %s", resp.StatusCode, ch, body)
			}
			for _, part := range tc.challenge {
				if !strings.Contains(ch, part) {
					t.Errorf("challenge %q lacks %s", ch, part)
				}
			}
			if s.upstreamSaw(tc.path) {
				t.Errorf("the app saw %s", tc.path)
			}
		})
	}
	// A token (a standalone provider takes no app passwords): its own
	// claims are what count, and the outpost cannot sign it in again.
	resp, err := http.PostForm(s.core+"/application/o/token/", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"app-client"}, "username": {"alice"}, "password": {"app-pw"}, "scope": {"openid profile"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("no token from the devcore: %v", err)
	}
	resp.Body.Close()
	for _, cred := range []struct{ name, header string }{
		{"a Bearer token", "Bearer " + tok.AccessToken},
	} {
		t.Run(cred.name, func(t *testing.T) {
			ask := func(path string) (int, string) {
				req, _ := http.NewRequest("GET", s.app+path, nil)
				req.Header.Set("Authorization", cred.header)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				readBody(resp)
				return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
			}
			if code, _ := ask("/graph"); code != 200 {
				t.Fatalf("the credential is not accepted at all: %d", code)
			}
			// Fresh (auth_time is the grant's), but not at level mfa.
			if code, _ := ask("/admin/fresh"); code != 200 {
				t.Errorf("/admin with a fresh credential: %d", code)
			}
			if code, ch := ask("/mfa/cred"); code != 401 || !strings.Contains(ch, `error="insufficient_user_authentication"`) || !strings.Contains(ch, `acr_values="mfa"`) {
				t.Errorf("%d %q", code, ch)
			}
			if s.upstreamSaw("/mfa/cred") {
				t.Error("the app saw /mfa/cred")
			}
		})
	}
	t.Run("a GET on the POST rule's path passes", func(t *testing.T) {
		resp := getPage(t, noFollow(c), s.app+"/silences/s1")
		if body := readBody(resp); resp.StatusCode != 200 {
			t.Errorf("%d %q", resp.StatusCode, body)
		}
	})
}

// acr_values: a session without the level signs in again asking for it;
// a person who reaches it passes, one who cannot gets a 403, not a loop.
func TestStepUpACR(t *testing.T) {
	s := newStepUpStack(t)
	host := strings.TrimPrefix(s.app, "http://")
	for _, tc := range []struct {
		user   string
		status int
		body   string
	}{
		{"alice", 200, "app: GET /mfa/keys as alice"},
		{"bob", http.StatusForbidden, "A fresh sign-in is required"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			c := browser(t)
			readBody(signIn(t, c, getPage(t, c, s.app+"/"), tc.user, "pw"))
			resp := getPage(t, c, s.app+"/mfa/keys")
			if q := resp.Request.URL.Query(); q.Get("acr_values") != "mfa" || q.Get("prompt") != "login" {
				t.Fatalf("not asked for acr mfa: %s", resp.Request.URL)
			}
			resp = signIn(t, c, resp, tc.user, "pw")
			if body := readBody(resp); resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
				t.Errorf("after signing in again: %d %q", resp.StatusCode, body)
			}
		})
	}
	if s.upstreamSaw("/mfa/keys") != true || strings.Contains(strings.Join(s.seen, "\n"), "/mfa/keys as bob") {
		t.Errorf("the app saw: %v", s.seen)
	}
	if got := s.stepUps(t, host, "refused"); got != 1 {
		t.Errorf("refused step-ups: %v, want 1", got)
	}
	if !strings.Contains(s.logs.String(), `"msg":"step-up refused: the identity provider's new sign-in still does not meet the rule"`) {
		t.Errorf("no log line for the refused step-up:\n%s", s.logs.String())
	}
}

// Nothing a client sends says when it signed in: the sign-in lives in the
// server-side session. Forged claims in cookies, headers or the query,
// and a forged session cookie, never reach the step-up path.
func TestStepUpCannotBeForged(t *testing.T) {
	s := newStepUpStack(t)
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, s.app+"/"), "alice", "pw"))
	s.age(t, c, s.app, "app-client")
	now := fmt.Sprint(time.Now().Unix())
	for _, tc := range []struct {
		name   string
		path   string
		header []string
		cookie *http.Cookie
		status int
	}{
		{"auth_time header", "/admin/h1", []string{"X-Authentik-Auth-Time", now, "Auth-Time", now}, nil, http.StatusFound},
		{"auth_time cookie", "/admin/c1", nil, &http.Cookie{Name: "auth_time", Value: now}, http.StatusFound},
		{"auth_time in the query", "/admin/q1?auth_time=" + now + "&acr=mfa", nil, nil, http.StatusFound},
		{"a forged session cookie", "/admin/f1", nil, &http.Cookie{Name: session.CookieName("app-client"), Value: "eyJhdXRoX3RpbWUiOjk5OTk5OTk5OTl9"}, http.StatusFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.app+tc.path, nil)
			req.Header.Set("Accept", "text/html")
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			cl := noFollow(c)
			if tc.cookie != nil {
				jar := browser(t).Jar
				u, _ := url.Parse(s.app)
				if tc.cookie.Name != session.CookieName("app-client") {
					jar.SetCookies(u, c.Jar.Cookies(u))
				}
				jar.SetCookies(u, []*http.Cookie{tc.cookie})
				cl.Jar = jar
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(resp)
			if resp.StatusCode != tc.status || !strings.Contains(resp.Header.Get("Location"), "/outpost.goauthentik.io/start") {
				t.Errorf("%d to %q, want a sign-in", resp.StatusCode, resp.Header.Get("Location"))
			}
			path, _, _ := strings.Cut(tc.path, "?")
			if s.upstreamSaw(path) {
				t.Errorf("the app saw %s", path)
			}
		})
	}
}

// A different person signing in at the step-up gets a session of their
// own: they never take over the one the browser had, which stays as it was.
func TestStepUpByAnotherSubject(t *testing.T) {
	s := newStepUpStack(t)
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, s.app+"/"), "alice", "pw"))
	alice := s.age(t, c, s.app, "app-client")
	resp := signIn(t, c, getPage(t, c, s.app+"/admin/x"), "bob", "pw")
	if body := readBody(resp); resp.StatusCode != 200 || body != "app: GET /admin/x as bob" {
		t.Fatalf("bob at the step-up: %d %q", resp.StatusCode, body)
	}
	now := s.sessionOf(t, c, s.app, "app-client")
	if now.ID == alice.ID || now.Sub == alice.Sub {
		t.Errorf("bob's sign-in took over alice's session %s", alice.ID)
	}
	kept, err := s.store.Get(session.WithoutCache(t.Context()), alice.ID)
	if err != nil || kept.Sub != alice.Sub || kept.Claims["auth_time"] != alice.Claims["auth_time"] {
		t.Errorf("alice's session changed: %+v %v", kept, err)
	}
}

// Forward auth decides the same: behind the real nginx and the real Caddy
// with the shipped files, a browser steps up through the outpost's own
// paths on the app's host and lands back, and a machine client gets the
// challenge.
func TestStepUpForwardProxies(t *testing.T) {
	s := newStepUpStack(t)
	s.startCaddy(t)
	for _, front := range []struct{ name, site, clientID string }{
		{"nginx", s.nginx, "fwd-client"},
		{"caddy", s.caddy, "cad-client"},
	} {
		t.Run(front.name, func(t *testing.T) {
			c := browser(t)
			resp := signIn(t, c, getPage(t, c, front.site+"/"), "alice", "pw")
			if body := readBody(resp); resp.StatusCode != 200 || !strings.Contains(body, "as alice") {
				t.Fatalf("sign-in behind %s: %d %q", front.name, resp.StatusCode, body)
			}
			before := s.age(t, c, front.site, front.clientID)
			t.Run("machine client", func(t *testing.T) {
				req, _ := http.NewRequest("GET", front.site+"/admin/api-"+front.name, nil)
				req.Header.Set("Accept", "application/json")
				resp, err := noFollow(c).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				readBody(resp)
				if ch := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(ch) != 1 ||
					!strings.Contains(ch[0], `error="insufficient_user_authentication"`) || !strings.Contains(ch[0], "max_age=600") {
					t.Errorf("%d %q", resp.StatusCode, ch)
				}
			})
			t.Run("browser", func(t *testing.T) {
				resp := getPage(t, c, front.site+"/admin/page?x=1")
				if q := resp.Request.URL.Query(); q.Get("prompt") != "login" || q.Get("max_age") != "600" {
					t.Fatalf("not asked to sign in again: %s", resp.Request.URL)
				}
				resp = signIn(t, c, resp, "alice", "pw")
				if body := readBody(resp); resp.StatusCode != 200 || resp.Request.URL.String() != front.site+"/admin/page?x=1" || !strings.Contains(body, "/admin/page as alice") {
					t.Fatalf("after the step-up: %d at %s: %q", resp.StatusCode, resp.Request.URL, body)
				}
				if after := s.sessionOf(t, c, front.site, front.clientID); after.ID != before.ID {
					t.Errorf("a new session %s, want %s updated", after.ID, before.ID)
				}
			})
			if s.upstreamSaw("/admin/api-" + front.name) {
				t.Errorf("the app saw /admin/api-%s", front.name)
			}
		})
	}
}

// A refresh is not a sign-in: the session keeps its auth_time and acr
// when the refreshed ID token leaves them out, so a max_auth_age rule
// still passes after the refresh (and without them it would not).
func TestStepUpSurvivesRefresh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		signInClaims bool
		want         string
	}{
		{"the sign-in said auth_time", true, "200 hello dana"},
		{"it never did: nothing to keep, a step-up", false, "302 sign-in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := newLifetimeStack(t, testissuer.Options{TokenLife: shortToken, RefreshTokens: true, SignInClaims: tc.signInClaims},
				"    max_auth_age: 1h\n    acr_values: [pwd]\n", memoryStore())
			c := browser(t)
			if !tc.signInClaims {
				// The sign-in itself already lacks them: it is sent to
				// step up at once, and the issuer has nothing to give.
				if g := st.get(t, c, 0, "/"); g != "302 sign-in" {
					t.Fatalf("before sign-in: %q", g)
				}
				resp := signIn(t, c, getPage(t, c, st.external+"/"), "dana", "pw")
				if body := readBody(resp); resp.StatusCode != http.StatusForbidden {
					t.Fatalf("a sign-in without auth_time at a step-up provider: %d %q", resp.StatusCode, body)
				}
				return
			}
			at := st.signIn(t, c)
			time.Sleep(time.Until(at.Add(3500 * time.Millisecond))) // past the token's expiry
			if g := st.get(t, c, 0, "/after-refresh"); g != tc.want {
				t.Errorf("after the refresh: %q, want %q", g, tc.want)
			}
			if n := st.issuer.RefreshGrants(); n != 1 {
				t.Errorf("refresh grants: %d, want 1", n)
			}
		})
	}
}

// An identity provider that ignores max_age and prompt=login answers with
// its old sign-in: the outpost refuses it with a 403 rather than send the
// browser round again, and the app never sees the path.
func TestStepUpNoLoop(t *testing.T) {
	t.Parallel()
	st := newLifetimeStack(t, testissuer.Options{SignInClaims: true, SignedInAt: time.Now().Add(-time.Hour)},
		"    paths:\n      - prefix: /admin\n        max_auth_age: 10m\n", memoryStore())
	c := browser(t)
	st.signIn(t, c) // at /: no step-up asked, the old sign-in is fine there
	resp := getPage(t, c, st.external+"/admin/x")
	if q := resp.Request.URL.Query(); q.Get("max_age") != "600" || q.Get("prompt") != "login" {
		t.Fatalf("not asked for a fresh sign-in: %s", resp.Request.URL)
	}
	resp = signIn(t, c, resp, "dana", "pw")
	body := readBody(resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "A fresh sign-in is required") || strings.Contains(body, "hello") {
		t.Fatalf("an old sign-in at the step-up: %d at %s: %q", resp.StatusCode, resp.Request.URL, body)
	}
	// The session stays as it was: other paths keep working.
	if g := st.get(t, c, 0, "/graph"); g != "200 hello dana" {
		t.Errorf("after the refused step-up: %q", g)
	}
}

// A /start link is the outpost's to write; one with a step-up that does
// not parse is a 400, never a sign-in that asks something else.
func TestStepUpStartLinkRefused(t *testing.T) {
	s := newStepUpStack(t)
	for _, q := range []string{"max_age=ten", "max_age=-5", "max_age=0", "max_age=&acr_values=", "acr_values=" + strings.Repeat("a+", 20)} {
		t.Run(q, func(t *testing.T) {
			resp := getPage(t, noFollow(browser(t)), s.app+"/outpost.goauthentik.io/start?"+q+"&rd=/admin")
			if body := readBody(resp); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%d %q", resp.StatusCode, body)
			}
		})
	}
	resp := getPage(t, noFollow(browser(t)), s.app+"/outpost.goauthentik.io/start?max_age=60&acr_values=mfa&rd=/admin")
	readBody(resp)
	u, _ := url.Parse(resp.Header.Get("Location"))
	if q := u.Query(); resp.StatusCode != http.StatusFound || q.Get("max_age") != "60" || q.Get("acr_values") != "mfa" || q.Get("prompt") != "login" {
		t.Errorf("a good step-up link: %d to %s", resp.StatusCode, u)
	}
}

// upstreamSawMarker reports whether any request the app saw contains
// marker in its path, however it was spelled on the way in.
func (s *stepUpStack) upstreamSawMarker(marker string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.seen {
		if strings.Contains(strings.ToLower(r), marker) {
			return true
		}
	}
	return false
}

// What the client controls in the request line cannot walk around a
// step-up: every spelling of a step-up path (letter case, on rules that
// fold it as this app does; percent-encoded
// letters, empty and dot segments, ;parameters, an encoded slash, the
// absolute form against another Host, the method's case on a method rule)
// reaches the app only after the fresh sign-in, in proxy mode and behind
// the real nginx and the real Caddy with the shipped files. Raw request lines: a client
// library would tidy most of them away.
func TestStepUpPathSpellings(t *testing.T) {
	s := newStepUpStack(t)
	s.startCaddy(t)
	proxyBrowser, nginxBrowser, caddyBrowser := browser(t), browser(t), browser(t)
	readBody(signIn(t, proxyBrowser, getPage(t, proxyBrowser, s.app+"/"), "alice", "pw"))
	s.age(t, proxyBrowser, s.app, "app-client")
	readBody(signIn(t, nginxBrowser, getPage(t, nginxBrowser, s.nginx+"/"), "alice", "pw"))
	s.age(t, nginxBrowser, s.nginx, "fwd-client")
	readBody(signIn(t, caddyBrowser, getPage(t, caddyBrowser, s.caddy+"/"), "alice", "pw"))
	s.age(t, caddyBrowser, s.caddy, "cad-client")
	rows := []struct {
		name, method, target string
	}{
		{"as written", "GET", "/admin/MARK"},
		{"upper case", "GET", "/ADMIN/MARK"},
		{"mixed case", "GET", "/aDmIn/MARK"},
		{"an encoded letter", "GET", "/%61dmin/MARK"},
		{"encoded upper case", "GET", "/%41DMIN/MARK"},
		{"an empty segment", "GET", "//admin/MARK"},
		{"a dot segment", "GET", "/./admin/MARK"},
		{"a dot-dot segment", "GET", "/public/../admin/MARK"},
		{"an encoded dot-dot", "GET", "/public/%2e%2e/admin/MARK"},
		{";parameters", "GET", "/admin;v=1/MARK"},
		{"an encoded slash", "GET", "/admin%2FMARK"},
		{"the method rule", "POST", "/silences/MARK"},
		{"the method rule, lower case", "post", "/silences/MARK"},
		{"the method rule, mixed case", "Post", "/silences/MARK"},
	}
	for _, site := range []struct {
		name, base string
		c          *http.Client
	}{{"proxy mode", s.app, proxyBrowser}, {"forward auth behind nginx", s.nginx, nginxBrowser},
		{"forward auth behind Caddy", s.caddy, caddyBrowser}} {
		addr := strings.TrimPrefix(site.base, "http://")
		u, _ := url.Parse(site.base)
		var cookies []string
		for _, ck := range site.c.Jar.Cookies(u) {
			cookies = append(cookies, ck.Name+"="+ck.Value)
		}
		cookie := strings.Join(cookies, "; ")
		for i, row := range rows {
			marker := fmt.Sprintf("mark%d%s", i, strings.ReplaceAll(site.name, " ", ""))
			target := strings.Replace(row.target, "MARK", marker, 1)
			forms := []struct{ name, line, host string }{
				{"origin form", target, addr},
				{"absolute form, another Host", "http://" + addr + target, "other.example"},
			}
			for _, f := range forms {
				t.Run(site.name+"/"+row.name+"/"+f.name, func(t *testing.T) {
					m := marker + strings.ReplaceAll(f.name, " ", "")[:3]
					line := strings.Replace(f.line, marker, m, 1)
					raw := row.method + " " + line + " HTTP/1.1\r\nHost: " + f.host + "\r\nCookie: " + cookie +
						"\r\nAccept: text/html\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
					resp, body := rawRequest(t, addr, raw)
					if s.upstreamSawMarker(strings.ToLower(m)) {
						t.Fatalf("the app got %s %s with an hour-old sign-in (answer %d %q)", row.method, line, resp.StatusCode, body)
					}
					if resp.StatusCode < 300 {
						t.Errorf("%d %q: a pass without the step-up", resp.StatusCode, body)
					}
				})
			}
		}
	}
}
