package proxy_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/session"
)

// askAuth plays the reverse proxy: it asks an auth endpoint about a request,
// passing on the browser's cookies for the outpost's host.
func askAuth(t *testing.T, st *stack, c *http.Client, endpoint string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", st.outpost+endpoint, nil)
	// The browser's request, as the reverse proxy passes it on.
	req.Header.Set("Accept", webtest.BrowserAccept)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if c != nil {
		for _, ck := range c.Jar.Cookies(req.URL) {
			req.AddCookie(ck)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(resp)
	if c != nil {
		c.Jar.SetCookies(req.URL, resp.Cookies())
	}
	return resp, body
}

func TestForwardAuthSignInAndEndpoints(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", mode: "forward_single", trusted: true})
	host := strings.TrimPrefix(st.outpost, "http://")
	traefik := map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": host, "X-Forwarded-Uri": "/app/page?x=1",
		"X-Authentik-Username": "admin"}

	// Not signed in: traefik/caddy get a redirect to sign in, with the
	// original URL as the target.
	c := browser(t)
	resp, _ := askAuth(t, st, c, "/outpost.goauthentik.io/auth/traefik", traefik)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, st.core+"/application/o/authorize/") {
		t.Fatalf("traefik, signed out: %d %s", resp.StatusCode, loc)
	}
	// The browser follows, signs in, and lands on the URL it asked for.
	after := signIn(t, c, getPage(t, c, loc), "alice", "alice-pw")
	readBody(after)
	if after.Request.URL.String() != st.outpost+"/app/page?x=1" {
		t.Fatalf("after sign-in the browser is at %s", after.Request.URL)
	}

	// Signed in: every endpoint answers 200 with the identity headers, and
	// the forged header the client sent plays no part.
	for _, tc := range []struct {
		name     string
		endpoint string
		headers  map[string]string
	}{
		{"traefik", "/outpost.goauthentik.io/auth/traefik", traefik},
		{"caddy", "/outpost.goauthentik.io/auth/caddy", traefik},
		{"nginx X-Original-Uri", "/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": "/app/page"}},
		{"nginx X-Original-Url", "/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Url": st.outpost + "/app/page"}},
		{"envoy", "/outpost.goauthentik.io/auth/envoy/app/page?x=1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := askAuth(t, st, c, tc.endpoint, tc.headers)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Authentik-Username") != "alice" ||
				resp.Header.Get("X-Authentik-Email") != "alice@example.com" || resp.Header.Get("X-Authentik-Meta-Provider") != "app" {
				t.Errorf("%s signed in: %d %v %s", tc.endpoint, resp.StatusCode, resp.Header, body)
			}
		})
	}

	// No original path passes unchecked, the outpost's own prefix included:
	// nginx routes those paths to the outpost itself, so one inside an
	// original URL is what a client wrote.
	for _, uri := range []string{"/outpost.goauthentik.io/start", "/outpost.goauthentik.io", "/outpost.goauthentik.iox/admin"} {
		t.Run(uri, func(t *testing.T) {
			resp, _ := askAuth(t, st, browser(t), "/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": uri})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("nginx, signed out, %s: %d, want 401", uri, resp.StatusCode)
			}
		})
	}

	// nginx, signed out: 401 for nginx to turn into its own redirect,
	// without a body (nginx would close the connection for it).
	resp, body := askAuth(t, st, browser(t), "/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": "/app"})
	if resp.StatusCode != http.StatusUnauthorized || body != "" || resp.ContentLength != 0 || resp.Header.Get("X-Authentik-Username") != "" {
		t.Errorf("nginx signed out: %d %q (length %d)", resp.StatusCode, body, resp.ContentLength)
	}
	// Skipped paths pass without identity; API clients get 401, not a redirect.
	resp, _ = askAuth(t, st, browser(t), "/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": "/public/logo.png"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Authentik-Username") != "" || len(resp.Header.Values("X-Authentik-Username")) != 1 {
		t.Errorf("skipped path: %d %v (want every identity header present and empty)", resp.StatusCode, resp.Header)
	}
	resp, _ = askAuth(t, st, browser(t), "/outpost.goauthentik.io/auth/traefik", map[string]string{
		"X-Forwarded-Proto": "http", "X-Forwarded-Host": host, "X-Forwarded-Uri": "/api", "Accept": "application/json"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API client: %d", resp.StatusCode)
	}
	// A redirect target off the provider's host is not carried into the login.
	resp, _ = askAuth(t, st, browser(t), "/outpost.goauthentik.io/auth/traefik", map[string]string{
		"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example.com", "X-Forwarded-Uri": "/"})
	if resp.StatusCode != http.StatusFound || strings.Contains(resp.Header.Get("Location"), "evil") {
		t.Errorf("foreign target: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Non-canonical original paths fail closed.
	resp, _ = askAuth(t, st, browser(t), "/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": "/public/../admin"})
	if resp.StatusCode == http.StatusOK {
		t.Errorf("/public/../admin passed forward auth")
	}
}

// Cookie garbage on every auth endpoint: never a 200 with an identity.
func TestForwardAuthCookieGarbage(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid]", mode: "forward_single", trusted: true})
	host := strings.TrimPrefix(st.outpost, "http://")
	name := "authentik_proxy_" // any provider's prefix; the exact name below
	for _, ck := range []string{"", "garbage", strings.Repeat("A", 5000), "a|b|c", "MTIzfHx8"} {
		for _, tc := range []struct {
			endpoint string
			headers  map[string]string
		}{
			{"/outpost.goauthentik.io/auth/traefik", map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": host, "X-Forwarded-Uri": "/x"}},
			{"/outpost.goauthentik.io/auth/caddy", map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": host, "X-Forwarded-Uri": "/x"}},
			{"/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": "/x"}},
			{"/outpost.goauthentik.io/auth/envoy/x", nil},
		} {
			headers := map[string]string{"Cookie": sessionCookieName() + "=" + ck + "; " + name + "other=" + ck}
			for k, v := range tc.headers {
				headers[k] = v
			}
			resp, _ := askAuth(t, st, nil, tc.endpoint, headers)
			if resp.StatusCode == http.StatusOK || resp.StatusCode >= 500 || resp.Header.Get("X-Authentik-Username") != "" {
				t.Errorf("cookie %.20q on %s: %d %q", ck, tc.endpoint, resp.StatusCode, resp.Header.Get("X-Authentik-Username"))
			}
		}
	}
}

func sessionCookieName() string { return session.CookieName("app-client") }

// A reverse proxy that sends no original URL, or is not trusted (its
// headers are dropped), gets 500 and the core hears of it, once a minute
// per cause, with no cookie, credential or unknown header in the event;
// never a 200.
func TestForwardAuthFailsClosed(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		t.Run(fmt.Sprintf("trusted=%t", trusted), func(t *testing.T) {
			st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid]", mode: "forward_single", trusted: trusted})
			host := strings.TrimPrefix(st.outpost, "http://")
			secrets := map[string]string{"Cookie": "sid=secret-cookie", "Authorization": "Bearer secret-token", "X-Secret-Thing": "secret-x"}
			cases := []struct {
				endpoint string
				headers  map[string]string
			}{
				{"/outpost.goauthentik.io/auth/traefik", map[string]string{"X-Forwarded-Host": host, "X-Forwarded-Uri": "/"}},
				{"/outpost.goauthentik.io/auth/caddy", map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Uri": "/"}},
				{"/outpost.goauthentik.io/auth/nginx", nil},
			}
			if !trusted {
				// Complete headers, from a peer whose headers do not count.
				cases = append(cases, struct {
					endpoint string
					headers  map[string]string
				}{"/outpost.goauthentik.io/auth/traefik", map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": host, "X-Forwarded-Uri": "/"}},
					struct {
						endpoint string
						headers  map[string]string
					}{"/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": "/"}})
			}
			for round := range 3 {
				for _, tc := range cases {
					headers := map[string]string{}
					for k, v := range tc.headers {
						headers[k] = v
					}
					for k, v := range secrets {
						headers[k] = v
					}
					resp, body := askAuth(t, st, nil, tc.endpoint, headers)
					// nginx's is plain text; a browser's behind another proxy
					// (askAuth asks as one) is the page. Neither names what was sent.
					if resp.StatusCode != http.StatusInternalServerError || body != "configuration error" && !strings.Contains(body, "<h1>Configuration error</h1>") {
						t.Errorf("trusted=%v round %d %s %v: %d %q", trusted, round, tc.endpoint, tc.headers, resp.StatusCode, body)
					}
				}
			}
			// Trusted: two causes (Traefik/Caddy without their headers, nginx
			// without its); untrusted: one (the peer is not trusted).
			want := 2
			if !trusted {
				want = 1
			}
			events := coreEvents(t, st, want)
			time.Sleep(300 * time.Millisecond) // any event over the limit would be posted by now
			if events = coreEvents(t, st, want); len(events) != want {
				t.Errorf("trusted=%v: %d requests made %d events, want %d (one a minute per cause)", trusted, 3*len(cases), len(events), want)
			}
			for _, ev := range events {
				if ev["action"] != "configuration_error" {
					t.Errorf("event %v", ev)
				}
				if b, _ := json.Marshal(ev); strings.Contains(string(b), "secret") {
					t.Errorf("trusted=%v: an event carries a cookie, credential or unknown header: %s", trusted, b)
				}
			}
		})
	}
}

// coreEvents waits until the devcore has at least n events and returns
// them all.
func coreEvents(t *testing.T, st *stack, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("GET", st.core+"/api/devcore/status", nil)
		req.Header.Set("Authorization", "Bearer "+st.token)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var status struct{ Events []map[string]any }
		_ = json.NewDecoder(r.Body).Decode(&status)
		r.Body.Close()
		if len(status.Events) >= n {
			return status.Events
		}
		if time.Now().After(deadline) {
			t.Fatalf("the core saw %d events, want %d", len(status.Events), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// domainBrowser resolves every *.example.test name to 127.0.0.1, so a real
// cookie jar applies Domain=example.test cookies across subdomains.
func domainBrowser(t *testing.T) *http.Client { return resolvingBrowser(t, "example.test") }

// resolvingBrowser is a browser that reaches every name ending in suffix
// at 127.0.0.1, on the port the URL names.
func resolvingBrowser(t *testing.T, suffix string) *http.Client {
	c := browser(t)
	d := &net.Dialer{Timeout: 5 * time.Second}
	c.Transport = webtest.Navigating(&http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err == nil && strings.HasSuffix(host, suffix) {
			addr = "127.0.0.1:" + port
		}
		return d.DialContext(ctx, network, addr)
	}})
	return c
}

// forward_domain: one sign-in at the auth host covers every app under the
// cookie domain; a look-alike domain gets neither the cookie nor a target.
func TestForwardDomainAcrossSubdomains(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
		mode: "forward_domain", trusted: true, externalHostname: "auth.example.test", cookieDomain: "example.test"})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(st.outpost, "http://"))
	c := domainBrowser(t)
	ask := func(appHost string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", st.outpost+"/outpost.goauthentik.io/auth/traefik", nil)
		req.Header.Set("Accept", webtest.BrowserAccept)
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Forwarded-Host", appHost+":"+port)
		req.Header.Set("X-Forwarded-Uri", "/dash?x=1")
		appURL, _ := url.Parse("http://" + appHost + ":" + port + "/")
		// Traefik relays the browser's cookies for the app's host, and the
		// auth answer's Set-Cookie back to it.
		for _, ck := range c.Jar.Cookies(appURL) {
			req.AddCookie(ck)
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(resp)
		c.Jar.SetCookies(appURL, resp.Cookies())
		return resp, body
	}

	resp, _ := ask("app1.example.test")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("app1 signed out: %d", resp.StatusCode)
	}
	after := signIn(t, c, getPage(t, c, resp.Header.Get("Location")), "alice", "alice-pw")
	readBody(after)
	if after.Request.URL.String() != "http://app1.example.test:"+port+"/dash?x=1" {
		t.Fatalf("after sign-in at the auth host the browser is at %s", after.Request.URL)
	}
	for _, app := range []string{"app1.example.test", "app2.example.test", "deep.team.example.test"} {
		t.Run(app, func(t *testing.T) {
			resp, body := ask(app)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Authentik-Username") != "alice" {
				t.Errorf("%s after one sign-in: %d %s", app, resp.StatusCode, body)
			}
		})
	}
	// The look-alike never gets the session cookie, and is not accepted as a
	// place to send the person after sign-in.
	evil, _ := url.Parse("http://evil-example.test:" + port + "/")
	if cks := c.Jar.Cookies(evil); len(cks) != 0 {
		t.Errorf("the browser would send %v to the look-alike", cks)
	}
	resp, _ = ask("evil-example.test")
	if resp.StatusCode == http.StatusOK {
		t.Error("the look-alike passed")
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if state := loc.Query().Get("state"); state != "" {
		parts := strings.Split(state, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if strings.Contains(string(payload), "evil-example") {
			t.Errorf("the look-alike became the sign-in target: %s", payload)
		}
	}
}

// The same request gets the same answer in proxy mode and through forward
// auth: let through with the identity, let through anonymously, 401, or sent
// to sign in.
func TestSameAnswerInBothModes(t *testing.T) {
	scopes := "[openid, email, profile, ak_proxy]"
	px := newStackWith(t, stackOptions{validity: 600, scopes: scopes})
	fw := newStackWith(t, stackOptions{validity: 600, scopes: scopes, mode: "forward_single", trusted: true})
	fwHost := strings.TrimPrefix(fw.outpost, "http://")

	// Signed-in browsers for each.
	pc := browser(t)
	readBody(signIn(t, pc, getPage(t, pc, px.outpost+"/"), "alice", "alice-pw"))
	fc := browser(t)
	resp, _ := askAuth(t, fw, fc, "/outpost.goauthentik.io/auth/traefik", map[string]string{
		"X-Forwarded-Proto": "http", "X-Forwarded-Host": fwHost, "X-Forwarded-Uri": "/"})
	readBody(signIn(t, fc, getPage(t, fc, resp.Header.Get("Location")), "alice", "alice-pw"))

	noFollow := func(jar http.CookieJar) *http.Client {
		return &http.Client{Jar: jar, Transport: webtest.Navigating(nil), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	proxyAnswer := func(path string, signedIn, api bool) string {
		var jar http.CookieJar
		if signedIn {
			jar = pc.Jar
		}
		before := px.upstreamCount()
		req, _ := http.NewRequest("GET", px.outpost+path, nil)
		if api {
			req.Header.Set("Accept", "application/json")
		}
		r, err := noFollow(jar).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(r)
		switch {
		case px.upstreamCount() > before && px.lastUpstream(t).Header.Get("X-Authentik-Username") == "alice":
			return "allow with identity"
		case px.upstreamCount() > before:
			return "allow anonymous"
		case r.StatusCode == http.StatusUnauthorized:
			return "401"
		case r.StatusCode == http.StatusFound && strings.Contains(r.Header.Get("Location"), "/outpost.goauthentik.io/start"):
			return "sign in"
		}
		return fmt.Sprintf("unexpected %d", r.StatusCode)
	}
	forwardAnswer := func(path string, signedIn, api bool) string {
		var c *http.Client
		if signedIn {
			c = fc
		}
		h := map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": fwHost, "X-Forwarded-Uri": path}
		if api {
			h["Accept"] = "application/json"
		}
		r, _ := askAuth(t, fw, c, "/outpost.goauthentik.io/auth/traefik", h)
		switch {
		case r.StatusCode == http.StatusOK && r.Header.Get("X-Authentik-Username") == "alice":
			return "allow with identity"
		case r.StatusCode == http.StatusOK:
			return "allow anonymous"
		case r.StatusCode == http.StatusUnauthorized:
			return "401"
		case r.StatusCode == http.StatusFound && strings.Contains(r.Header.Get("Location"), "/application/o/authorize/"):
			return "sign in"
		}
		return fmt.Sprintf("unexpected %d", r.StatusCode)
	}
	for _, path := range []string{"/", "/graph?g0.expr=up", "/public/logo.png", "/public/..;/admin", "/admin;.png"} {
		t.Run(path, func(t *testing.T) {
			for _, signedIn := range []bool{false, true} {
				for _, api := range []bool{false, true} {
					p, f := proxyAnswer(path, signedIn, api), forwardAnswer(path, signedIn, api)
					if p != f {
						t.Errorf("%s signedIn=%v api=%v: proxy mode says %q, forward auth says %q", path, signedIn, api, p, f)
					}
					if strings.HasPrefix(p, "unexpected") {
						t.Errorf("%s signedIn=%v api=%v: %s", path, signedIn, api, p)
					}
					if signedIn && p != "allow with identity" {
						t.Errorf("%s signed in: %q", path, p)
					}
				}
			}
		})
	}
}
