package proxy_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/devcore"
	"github.com/outpost-dev/outpost/internal/testissuer"
	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
)

// standaloneOutpost serves, on ln, one standalone provider for issuer with
// external host external ("": the listener's own URL) and extra YAML lines,
// in front of an app that greets X-Authentik-Username.
func standaloneOutpost(t *testing.T, log *slog.Logger, ln net.Listener, issuer, external, extra string) {
	t.Helper()
	standaloneOutpostWith(t, proxy.Options{Log: log}, ln, issuer, external, extra)
}

// standaloneOutpostWith is standaloneOutpost with the data plane's options
// (Log set; Store and Version are filled in).
func standaloneOutpostWith(t *testing.T, opts proxy.Options, ln net.Listener, issuer, external, extra string) {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(app.Close)
	if external == "" {
		external = "http://" + ln.Addr().String()
	}
	snap, err := outpostapi.ParseStatic([]byte(fmt.Sprintf(`
outpost: {name: redirect-test}
providers:
  - name: app
    external_host: %s
    internal_host: %s
    issuer: %s
    client_id: app-client
    client_secret: app-client-secret
    cookie_secret: redirect-cookie-secret-0123
%s`, external, app.URL, issuer, extra)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := session.NewMemoryStore(session.MemoryOptions{})
	t.Cleanup(func() { store.Close() })
	opts.Store, opts.Version = store, "0.1.0"
	srv := proxy.New(opts)
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
	// A second load of the same file, as a reload: nothing new to announce.
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
	front := proxy.NewHTTPServer(srv)
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })
}

// sentRedirectURI is the redirect_uri the outpost sends the browser to the
// issuer with, for a visit to u (the outpost's own redirects followed).
func sentRedirectURI(t *testing.T, u string) string {
	t.Helper()
	c := &http.Client{Jar: browser(t).Jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for range 3 {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept", webtest.BrowserAccept)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || err != nil {
			t.Fatalf("GET %s: %d to %q, want a redirect to the issuer", u, resp.StatusCode, resp.Header.Get("Location"))
		}
		if loc.Query().Has("redirect_uri") {
			return loc.Query().Get("redirect_uri")
		}
		u = loc.String()
	}
	t.Fatalf("no redirect to the issuer from %s", u)
	return ""
}

// A standalone provider sends the plain callback path unless redirect_uri
// says otherwise, and a sign-in completes through the callback in either
// form (the test issuer redeems a code only for the redirect_uri it was
// issued to, byte for byte).
func TestStandaloneRedirectURI(t *testing.T) {
	iss := testissuer.Start(t, map[string]testissuer.User{"sam": {Password: "pw"}})
	for _, tc := range []struct {
		name  string
		path  string // of the external host
		extra string // YAML; {{base}} is the outpost's URL
		want  string // redirect_uri after {{base}}
	}{
		{"default: the plain path", "", "", "/outpost.goauthentik.io/callback"},
		{"external host with a path", "/grafana/", "", "/grafana/outpost.goauthentik.io/callback"},
		{"authentik's form, asked for", "", "    redirect_uri: {{base}}/outpost.goauthentik.io/callback?X-authentik-auth-callback=true\n",
			"/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"},
		{"the external host with the marker", "", "    redirect_uri: {{base}}/?X-authentik-auth-callback=true\n",
			"/?X-authentik-auth-callback=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			base := "http://" + ln.Addr().String()
			standaloneOutpost(t, slog.New(slog.DiscardHandler), ln, iss.URL, base+tc.path, strings.ReplaceAll(tc.extra, "{{base}}", base))
			// The outpost's own paths are at the root of the host it
			// serves (a front proxy strips an external path).
			start := base + "/"
			if tc.path != "" {
				start = base + "/outpost.goauthentik.io/start"
			}
			want := base + tc.want
			if got := sentRedirectURI(t, start); got != want {
				t.Fatalf("redirect_uri sent: %q, want %q", got, want)
			}
			c := browser(t)
			resp := signIn(t, c, getPage(t, c, start), "sam", "pw")
			if body := readBody(resp); resp.StatusCode != 200 || body != "hello sam" {
				t.Fatalf("sign-in through %s: %d %q", want, resp.StatusCode, body)
			}
		})
	}
}

// A redirect_uri the outpost could not serve is refused with the line and
// the field.
func TestStandaloneRedirectURIRefused(t *testing.T) {
	for _, tc := range []struct{ name, uri, want string }{
		{"another host", "http://other.example/outpost.goauthentik.io/callback", "must be on the external host"},
		{"another scheme", "https://app.example/outpost.goauthentik.io/callback", "must be on the external host"},
		{"an application path", "http://app.example/login", "the path must end in /outpost.goauthentik.io/callback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := outpostapi.ParseStatic([]byte(`providers:
  - name: app
    external_host: http://app.example
    internal_host: http://127.0.0.1:1
    issuer: https://id.example/
    client_id: app
    client_secret: s
    cookie_secret: 0123456789abcdef
    redirect_uri: `+tc.uri+"\n"), t.TempDir())
			if err == nil || !strings.Contains(err.Error(), `line 9: provider "app": redirect_uri:`) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want line 9, redirect_uri and %q", err, tc.want)
			}
		})
	}
}

// The callback answers on the plain path even when the provider sends
// authentik's form (a registration made for authentik keeps working, and a
// browser coming back from either is served), and on the marker anywhere.
func TestCallbackAcceptsBothForms(t *testing.T) {
	iss := testissuer.Start(t, map[string]testissuer.User{"sam": {Password: "pw"}})
	ln := listen(t)
	out := "http://" + ln.Addr().String()
	standaloneOutpost(t, slog.New(slog.DiscardHandler), ln, iss.URL, "", "")
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{
		"/outpost.goauthentik.io/callback?state=forged&code=x",
		"/outpost.goauthentik.io/callback?X-authentik-auth-callback=true&state=forged&code=x",
		"/anywhere?X-authentik-auth-callback=true&state=forged&code=x",
	} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", out+path, nil)
			req.Header.Set("Accept", "text/html")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// The callback itself answers (a forged state is its 400), not
			// the sign-in redirect an app path would get.
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "sign-in link is invalid") {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
		})
	}
}

// Behind Traefik, Caddy or Envoy the callback can ride inside the original
// URL of a forward-auth request: the plain path as well as the marker.
func TestForwardAuthCallbackBothForms(t *testing.T) {
	iss := testissuer.Start(t, nil)
	ln := listen(t)
	host := ln.Addr().String()
	standaloneOutpostWith(t, proxy.Options{Log: slog.New(slog.DiscardHandler), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		ln, iss.URL, "", "    mode: forward_single\n")
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, uri := range []string{
		"/outpost.goauthentik.io/callback?code=x&state=forged",
		"/some/page?X-authentik-auth-callback=true&code=x&state=forged",
	} {
		t.Run(uri, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+host+"/outpost.goauthentik.io/auth/traefik", nil)
			req.Header.Set("Accept", "text/html")
			req.Header.Set("X-Forwarded-Proto", "http")
			req.Header.Set("X-Forwarded-Host", host)
			req.Header.Set("X-Forwarded-Method", "GET")
			req.Header.Set("X-Forwarded-Uri", uri)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			// The callback answers (a forged state), not a new sign-in.
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "sign-in link is invalid") {
				t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
		})
	}
}

// At start-up (and when it changes) the log names, per standalone
// provider, the exact redirect URI to register; a reload that keeps it
// says nothing more.
func TestStartupLogNamesTheRedirectURI(t *testing.T) {
	iss := testissuer.Start(t, nil)
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ln := listen(t)
	out := "http://" + ln.Addr().String()
	standaloneOutpost(t, log, ln, iss.URL, "", "")
	want := fmt.Sprintf(`msg="register this redirect URI at the issuer" provider=app issuer=%s client_id=app-client redirect_uri=%s/outpost.goauthentik.io/callback`, iss.URL, out)
	if got := buf.String(); strings.Count(got, want) != 1 {
		t.Fatalf("log lacks %q once:\n%s", want, got)
	}
}

// The devcore, given a signing key and no outposts, is an OpenID Connect
// issuer a standalone outpost can use: discovery, RS256 tokens under a
// JWKS key, the plain redirect URI registered and nothing else. A browser
// signs in end to end, and the provider's rule refuses a user outside it.
func TestStandaloneSignInAtTheDevcore(t *testing.T) {
	coreLn, outLn := listen(t), listen(t)
	coreURL := "http://" + coreLn.Addr().String()
	external := "http://" + outLn.Addr().String()
	// The same outpost under another name serves a provider the devcore
	// signs HS256 for (no signing_key), as authentik does without one.
	_, outPort, _ := net.SplitHostPort(outLn.Addr().String())
	hsExternal := "http://localhost:" + outPort
	cfg, err := devcore.ParseConfig([]byte(fmt.Sprintf(`
certificates:
  - name: issuer-key
    key_type: rsa
providers:
  - name: app
    external_host: %s
    internal_host: http://127.0.0.1:1
    client_id: app-client
    client_secret: app-client-secret
    cookie_secret: unused-by-the-devcore-0123
    signing_key: issuer-key
    redirect_uris: [%s/outpost.goauthentik.io/callback]
  - name: hs-app
    external_host: %s
    internal_host: http://127.0.0.1:1
    client_id: hs-client
    client_secret: hs-client-secret-0123456789abcdef0123
    cookie_secret: unused-by-the-devcore-0123
    redirect_uris: [%s/outpost.goauthentik.io/callback]
groups:
  - name: ops
users:
  - username: alice
    password_hash: %q
    email: alice@example.com
    groups: [ops]
  - username: bob
    password_hash: %q
`, external, external, hsExternal, hsExternal, hash(t, "pw"), hash(t, "pw"))))
	if err != nil {
		t.Fatal(err)
	}
	core, err := devcore.New(cfg, devcore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = core.Serve(t.Context(), coreLn) }()

	var mu sync.Mutex
	var seen *http.Request
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(r.Context())
		mu.Unlock()
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Authentik-Username"))
	}))
	defer app.Close()
	snap, err := outpostapi.ParseStatic([]byte(fmt.Sprintf(`
outpost: {name: devcore-standalone}
providers:
  - name: app
    external_host: %s
    internal_host: %s
    issuer: %s/application/o/app/
    client_id: app-client
    client_secret: app-client-secret
    cookie_secret: standalone-cookie-secret-0123
    allowed_groups: [ops]
  - name: hs-app
    external_host: %s
    internal_host: %s
    issuer: %s/application/o/hs-app/
    client_id: hs-client
    client_secret: hs-client-secret-0123456789abcdef0123
    cookie_secret: standalone-cookie-secret-0123
`, external, app.URL, coreURL, hsExternal, app.URL, coreURL)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := session.NewMemoryStore(session.MemoryOptions{})
	defer store.Close()
	var logs syncBuffer
	srv := proxy.New(proxy.Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), Store: store, Version: "0.1.0"})
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
	front := proxy.NewHTTPServer(srv)
	go func() { _ = front.Serve(outLn) }()
	t.Cleanup(func() { _ = front.Close() })

	t.Run("discovery and JWKS", func(t *testing.T) {
		resp, err := http.Get(coreURL + "/application/o/app/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(resp)
		if !strings.Contains(body, `"id_token_signing_alg_values_supported":["RS256"]`) {
			t.Errorf("discovery does not advertise RS256: %s", body)
		}
		resp, err = http.Get(coreURL + "/application/o/app/jwks/")
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(resp); !strings.Contains(body, `"kty":"RSA"`) || !strings.Contains(body, `"alg":"RS256"`) {
			t.Errorf("JWKS has no RS256 key: %s", body)
		}
	})
	t.Run("a member of ops signs in", func(t *testing.T) {
		c := browser(t)
		resp := getPage(t, c, external+"/dashboards?orgId=1")
		if !strings.HasPrefix(resp.Request.URL.String(), coreURL+"/application/o/authorize/") {
			t.Fatalf("not at the devcore's login: %s", resp.Request.URL)
		}
		resp = signIn(t, c, resp, "alice", "pw")
		if body := readBody(resp); resp.StatusCode != 200 || body != "hello alice" || resp.Request.URL.String() != external+"/dashboards?orgId=1" {
			t.Fatalf("after sign-in: %d at %s: %q", resp.StatusCode, resp.Request.URL, body)
		}
		mu.Lock()
		defer mu.Unlock()
		if jwt := seen.Header.Get("X-Authentik-Jwt"); !strings.HasPrefix(jwt, "eyJhbGciOiJSUzI1NiI") {
			t.Errorf("X-Authentik-Jwt is not an RS256 JWT: %.40s", jwt)
		}
		if g := seen.Header.Get("X-Authentik-Groups"); g != "ops" {
			t.Errorf("X-Authentik-Groups = %q", g)
		}
	})
	t.Run("the rule refuses bob", func(t *testing.T) {
		c := browser(t)
		resp := signIn(t, c, getPage(t, c, external+"/"), "bob", "pw")
		if body := readBody(resp); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "hello") {
			t.Fatalf("bob: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("HS256 from a discovered issuer is refused", func(t *testing.T) {
		// What docs/standalone.md says of authentik without a signing key.
		c := browser(t)
		resp := signIn(t, c, getPage(t, c, hsExternal+"/"), "alice", "pw")
		body := readBody(resp)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "could not be verified") {
			t.Fatalf("HS256 sign-in: %d %s", resp.StatusCode, body)
		}
		if want := `id_token: oidc: malformed jwt: unexpected signature algorithm \"HS256\"`; !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	})
	t.Run("authentik's form is not registered", func(t *testing.T) {
		// The devcore matches byte for byte: what the outpost sends by
		// default is the only URI that works, and the refusal names both.
		resp, err := http.Get(coreURL + "/application/o/authorize/?response_type=code&client_id=app-client&redirect_uri=" +
			url.QueryEscape(external+"/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"))
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(resp)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "callback?X-authentik-auth-callback=true") ||
			!strings.Contains(body, "registered: "+external+"/outpost.goauthentik.io/callback") {
			t.Fatalf("unregistered redirect URI: %d %s", resp.StatusCode, body)
		}
	})
}
