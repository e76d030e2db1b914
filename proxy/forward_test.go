package proxy_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// askAuth plays the reverse proxy: it asks an auth endpoint about a request,
// passing on the browser's cookies for the outpost's host.
func askAuth(t *testing.T, st *stack, c *http.Client, endpoint string, headers map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", st.outpost+endpoint, nil)
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
		endpoint string
		headers  map[string]string
	}{
		{"/outpost.goauthentik.io/auth/traefik", traefik},
		{"/outpost.goauthentik.io/auth/caddy", traefik},
		{"/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": "/app/page"}},
		{"/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Url": st.outpost + "/app/page"}},
		{"/outpost.goauthentik.io/auth/envoy/app/page?x=1", nil},
	} {
		resp, body := askAuth(t, st, c, tc.endpoint, tc.headers)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Authentik-Username") != "alice" ||
			resp.Header.Get("X-Authentik-Email") != "alice@example.com" || resp.Header.Get("X-Authentik-Meta-Provider") != "app" {
			t.Errorf("%s signed in: %d %v %s", tc.endpoint, resp.StatusCode, resp.Header, body)
		}
	}

	// nginx, signed out: 401 for nginx to turn into its own redirect.
	resp, body := askAuth(t, st, browser(t), "/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": "/app"})
	if resp.StatusCode != http.StatusUnauthorized || body != "unauthorized request" || resp.Header.Get("X-Authentik-Username") != "" {
		t.Errorf("nginx signed out: %d %q", resp.StatusCode, body)
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

// A reverse proxy that sends no original URL, or is not trusted (its
// headers are dropped), gets 500 and the core hears of it; never a 200.
func TestForwardAuthFailsClosed(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid]", mode: "forward_single", trusted: trusted})
		host := strings.TrimPrefix(st.outpost, "http://")
		cases := []struct {
			endpoint string
			headers  map[string]string
		}{
			{"/outpost.goauthentik.io/auth/traefik", map[string]string{"X-Forwarded-Host": host, "X-Forwarded-Uri": "/"}},
			{"/outpost.goauthentik.io/auth/caddy", map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Uri": "/"}},
			{"/outpost.goauthentik.io/auth/nginx", nil},
			{"/outpost.goauthentik.io/auth/nginx", map[string]string{"X-Original-Uri": "relative"}},
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
		for _, tc := range cases {
			resp, body := askAuth(t, st, nil, tc.endpoint, tc.headers)
			if resp.StatusCode != http.StatusInternalServerError || body != "configuration error" {
				t.Errorf("trusted=%v %s %v: %d %q", trusted, tc.endpoint, tc.headers, resp.StatusCode, body)
			}
		}
		// The core received configuration_error events.
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
			if len(status.Events) >= len(cases) && status.Events[0]["action"] == "configuration_error" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("trusted=%v: the core saw %d events, want %d configuration_error", trusted, len(status.Events), len(cases))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
