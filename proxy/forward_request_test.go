package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/outpostapi"
)

// For any headers a client gets past its reverse proxy to an auth
// endpoint, the answer is a decision for the application that the
// original URL's host names (and no other host in the request contradicts),
// or a refusal; a 5xx only for what the operator must fix. A session of
// app.example.com is presented every time, so a pass with its identity
// shows which application decided.
func FuzzForwardDecision(f *testing.F) {
	app := provider(f, "app", outpostapi.ModeForwardSingle, "http://app.example.com", "")
	other := provider(f, "other", outpostapi.ModeForwardSingle, "http://other.example.com:8080", "")
	snap := &outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "fuzz"}, Providers: []outpostapi.Provider{app, other}}
	e := newSignedInBenchEnv(f, snap, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	cookie := e.cookie.Name + "=" + e.cookie.Value
	endpoints := []string{pathAuthNginx, pathAuthTraefik, pathAuthCaddy, pathAuthEnvoy}
	f.Add(uint8(0), "app.example.com", "", "http://app.example.com/x", "", "", "")
	f.Add(uint8(0), "other.example.com:8080", "app.example.com", "http://app.example.com/x", "/y", "", "")
	f.Add(uint8(0), "other.example.com", "", "http://app.example.com:80/x", "", "", "")
	f.Add(uint8(1), "outpost", "app.example.com", "", "", "/x", "http")
	f.Add(uint8(2), "app.example.com", "other.example.com:8080", "", "", "//x", "https")
	f.Add(uint8(3), "app.example.com", "", "", "", "", "")
	f.Add(uint8(3), "other.example.com:8080", "app.example.com", "", "", "", "")
	f.Fuzz(func(t *testing.T, endpoint uint8, host, xfh, xOriginalURL, xOriginalURI, xfu, xfp string) {
		path := endpoints[int(endpoint)%len(endpoints)]
		if path == pathAuthEnvoy {
			path += "/" + strings.TrimLeft(xfu, "/")
		}
		r, err := http.NewRequest("GET", "http://outpost"+pathOnly(path), nil)
		if err != nil {
			return
		}
		r.Host = host
		r.RemoteAddr = "127.0.0.1:40000"
		for name, v := range map[string]string{"X-Forwarded-Host": xfh, "X-Original-Url": xOriginalURL,
			"X-Original-Uri": xOriginalURI, "X-Forwarded-Uri": xfu, "X-Forwarded-Proto": xfp} {
			if v != "" {
				r.Header[name] = strings.Split(v, "\n")
			}
		}
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Accept", "text/html")
		before := r.Clone(r.Context())
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, r)
		// The operator's fault is the configuration-error answer: plain
		// text to a reverse proxy, the page to a browser.
		if body := rec.Body.String(); rec.Code >= 500 && body != "configuration error" && !strings.Contains(body, "<title>Configuration error</title>") {
			t.Fatalf("%d %q for %v", rec.Code, rec.Body.String(), before.Header)
		}
		if rec.Code != http.StatusOK || rec.Header().Get("X-Authentik-Username") == "" {
			return
		}
		// It passed with app's identity: the original URL named app, and
		// nothing in the request named the other.
		if p := rec.Header().Get("X-Authentik-Meta-Provider"); p != "app" {
			t.Fatalf("passed as provider %q", p)
		}
		kind := forwardKindOf(before.URL.EscapedPath())
		st := e.srv.current.Load()
		info := &requestInfo{origin: e.srv.trust.resolve(before)}
		req, refusal := resolveForward(withInfo(before, info), kind)
		if refusal != nil {
			t.Fatalf("passed, but the original request does not resolve: %v", refusal)
		}
		if a := st.router.route(req.url.Host); a == nil || a.provider.Name != "app" {
			t.Fatalf("passed for original host %q", req.url.Host)
		}
		for _, h := range before.Header.Values("X-Forwarded-Host") {
			if hostnameOf(h) == "other.example.com" {
				t.Fatalf("passed with X-Forwarded-Host %q", h)
			}
		}
		if hostnameOf(before.Host) == "other.example.com" {
			t.Fatalf("passed with Host %q", before.Host)
		}
		if canonicalPath(req.url.Path) != req.url.Path || ambiguousURLPath(req.url) {
			t.Fatalf("passed on path %q", req.url.EscapedPath())
		}
	})
}

// pathOnly keeps a fuzzed Envoy path parseable as a request target.
func pathOnly(p string) string {
	if i := strings.IndexAny(p, " \t\r\n#"); i >= 0 {
		return p[:i]
	}
	return p
}

// On a proxy-mode host the auth endpoints' paths are app paths like any
// other: decided by proxy mode, never answered as forward auth.
func TestForwardPathsOnAProxyModeHost(t *testing.T) {
	s := New(Options{Log: discard(), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	s.Update(&outpostapi.Snapshot{Providers: []outpostapi.Provider{
		provider(t, "prom", outpostapi.ModeProxy, "http://prom.example.com", ""),
	}})
	for _, tc := range []struct{ path, header, value string }{
		{pathAuthNginx, "", ""},
		{pathAuthNginx, "X-Original-Url", "http://prom.example.com/public/x"},
		{pathAuthTraefik, "X-Forwarded-Uri", "/public/x"},
		{pathAuthEnvoy + "/public/x", "", ""},
	} {
		t.Run(tc.path+" "+tc.header, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://prom.example.com"+tc.path, nil)
			r.RemoteAddr = "127.0.0.1:4000"
			r.Header.Set("Accept", "text/html")
			if tc.header != "" {
				r.Header.Set(tc.header, tc.value)
				r.Header.Set("X-Forwarded-Proto", "http")
				r.Header.Set("X-Forwarded-Host", "prom.example.com")
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			if rec.Code != http.StatusFound || !strings.Contains(rec.Header().Get("Location"), pathStart) {
				t.Errorf("%d %q, want proxy mode's redirect to sign in", rec.Code, rec.Header().Get("Location"))
			}
		})
	}
}

// forward_domain applies skip_path_regex to the URL, never to its query:
// a query naming the skipped path does not make another path skipped
// (issue 20, row 7).
func TestForwardDomainSkipIgnoresTheQuery(t *testing.T) {
	c := outpostapi.ProxyOutpostConfig{
		Name: "dom", Mode: outpostapi.ModeForwardDomain, ExternalHost: "http://auth.example.com", InternalHost: "http://127.0.0.1:1",
		ClientID: "dom", ClientSecret: "client-secret-0123456789abcdef0123456789", CookieSecret: "0123456789abcdef",
		CookieDomain: "example.com", SkipPathRegex: "/public/",
		OIDCConfiguration: outpostapi.OpenIDConnectConfiguration{AuthorizationEndpoint: "http://core/a", TokenEndpoint: "http://core/t",
			IDTokenSigningAlgValuesSupported: []string{"HS256"}},
	}
	p, err := outpostapi.ValidateProvider(c, "")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Log: discard(), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	s.Update(&outpostapi.Snapshot{Providers: []outpostapi.Provider{p}})
	for uri, want := range map[string]int{
		"/public/logo.png":         http.StatusOK,
		"/admin?x=/public/":        http.StatusUnauthorized,
		"/admin?next=%2Fpublic%2F": http.StatusUnauthorized,
		"/admin#/public/":          http.StatusBadRequest,
	} {
		t.Run(uri, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://outpost"+pathAuthTraefik, nil)
			r.RemoteAddr = "127.0.0.1:4000"
			r.Header.Set("X-Forwarded-Proto", "http")
			r.Header.Set("X-Forwarded-Host", "grafana.example.com")
			r.Header.Set("X-Forwarded-Uri", uri)
			r.Header.Set("Accept", "application/json") // a machine: 401, not a login redirect
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			if rec.Code != want {
				t.Errorf("%d, want %d", rec.Code, want)
			}
		})
	}
}
