package proxy_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Step-up on every forward-auth endpoint, asked as each reverse proxy
// asks (Traefik's and Caddy's X-Forwarded-*, Envoy's path prefix, nginx's
// X-Original-URL): a session signed in an hour ago gets the RFC 9470
// challenge as a machine client, and as a browser the redirect to a fresh
// sign-in (prompt=login, max_age) that comes back to the URL it asked
// for; a path without a step-up rule is still answered with the identity.
// nginx's browser answer is the bare 401 its error_page turns into the
// redirect. TestStepUpForwardProxies and TestStepUpPathSpellings go
// through the real nginx and Caddy; Traefik and Envoy are not installed
// here, so their rows ask the outpost directly, with the headers those
// proxies send.
func TestStepUpForwardEndpoints(t *testing.T) {
	s := newStepUpStack(t)
	c := browser(t)
	resp := signIn(t, c, getPage(t, c, s.nginx+"/"), "alice", "pw")
	if body := readBody(resp); resp.StatusCode != 200 || !strings.Contains(body, "as alice") {
		t.Fatalf("sign-in behind nginx: %d %q", resp.StatusCode, body)
	}
	s.age(t, c, s.nginx, "fwd-client")
	host := strings.TrimPrefix(s.nginx, "http://")
	const page = "/admin/page?x=1"
	ask := func(t *testing.T, endpoint, path, accept string) *http.Response {
		t.Helper()
		h := http.Header{"Accept": {accept}}
		target := "http://" + s.replicas[0] + "/outpost.goauthentik.io/auth/" + endpoint
		switch endpoint {
		case "traefik", "caddy":
			h.Set("X-Forwarded-Proto", "http")
			h.Set("X-Forwarded-Host", host)
			h.Set("X-Forwarded-Uri", path)
			h.Set("X-Forwarded-Method", "GET")
		case "nginx": // as deploy/nginx/outpost-locations.conf asks
			h.Set("X-Original-Url", s.nginx+path)
			h.Set("X-Original-Method", "GET")
			h.Set("X-Forwarded-Proto", "http")
			h.Set("X-Forwarded-Host", host)
		case "envoy":
			target += path
		}
		req, _ := http.NewRequest("GET", target, nil)
		req.Header = h
		req.Host = host
		for _, ck := range c.Jar.Cookies(&url.URL{Scheme: "http", Host: host, Path: "/"}) {
			req.AddCookie(ck)
		}
		resp, err := noFollow(&http.Client{}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(resp)
		return resp
	}
	for _, endpoint := range []string{"nginx", "traefik", "caddy", "envoy"} {
		t.Run(endpoint+"/machine client", func(t *testing.T) {
			resp := ask(t, endpoint, "/admin/api", "application/json")
			if ch := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(ch) != 1 ||
				!strings.Contains(ch[0], `error="insufficient_user_authentication"`) || !strings.Contains(ch[0], "max_age=600") {
				t.Errorf("%d %q, want 401 with the RFC 9470 challenge", resp.StatusCode, ch)
			}
			if u := resp.Header.Get("X-Authentik-Username"); u != "" {
				t.Errorf("identity %q handed out with the challenge", u)
			}
		})
		t.Run(endpoint+"/browser", func(t *testing.T) {
			resp := ask(t, endpoint, page, "text/html")
			if u := resp.Header.Get("X-Authentik-Username"); u != "" {
				t.Errorf("identity %q handed out to a stale sign-in", u)
			}
			if endpoint == "nginx" {
				if resp.StatusCode != 401 {
					t.Errorf("%d, want 401 for nginx's error_page", resp.StatusCode)
				}
				return
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), s.core+"/application/o/authorize/") {
				t.Fatalf("%d to %q, want 302 to the issuer's authorization", resp.StatusCode, resp.Header.Get("Location"))
			}
			if q := loc.Query(); q.Get("max_age") != "600" || q.Get("prompt") != "login" ||
				q.Get("redirect_uri") != s.nginx+"/outpost.goauthentik.io/callback" {
				t.Errorf("authorization %s: want max_age=600, prompt=login and the app host's callback", loc)
			}
			if back := stateRedirect(t, loc.Query().Get("state")); back != s.nginx+page {
				t.Errorf("the sign-in comes back to %q, want %q", back, s.nginx+page)
			}
		})
		t.Run(endpoint+"/path without step-up", func(t *testing.T) {
			resp := ask(t, endpoint, "/reports", "text/html")
			if resp.StatusCode != 200 || resp.Header.Get("X-Authentik-Username") != "alice" {
				t.Errorf("%d as %q, want 200 as alice", resp.StatusCode, resp.Header.Get("X-Authentik-Username"))
			}
		})
	}
}

// stateRedirect is where the signed login state sends the browser after
// the sign-in (its redirect claim; the signature is the outpost's to check).
func stateRedirect(t *testing.T, state string) string {
	t.Helper()
	parts := strings.Split(state, ".")
	if len(parts) != 3 {
		t.Fatalf("state %q is not a JWT", state)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Redirect string `json:"redirect"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Redirect
}
