package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/outpostapi"
)

func provider(t testing.TB, name, mode, external, cookieDomain string) outpostapi.Provider {
	t.Helper()
	c := outpostapi.ProxyOutpostConfig{
		Name: name, Mode: mode, ExternalHost: external, InternalHost: "http://127.0.0.1:1",
		ClientID: name, ClientSecret: "client-secret-0123456789abcdef0123456789", CookieSecret: "0123456789abcdef", CookieDomain: cookieDomain,
		OIDCConfiguration: outpostapi.OpenIDConnectConfiguration{
			AuthorizationEndpoint: "http://core/a", TokenEndpoint: "http://core/t",
			IDTokenSigningAlgValuesSupported: []string{"HS256"},
		},
	}
	p, err := outpostapi.ValidateProvider(c, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoute(t *testing.T) {
	snap := &outpostapi.Snapshot{Providers: []outpostapi.Provider{
		provider(t, "prom", outpostapi.ModeProxy, "https://prom.example.com", ""),
		provider(t, "ported", outpostapi.ModeProxy, "http://app.example.com:8080", ""),
		provider(t, "domain", outpostapi.ModeForwardDomain, "https://auth.example.com", ".example.com"),
		provider(t, "deeper", outpostapi.ModeForwardDomain, "https://auth.corp.example.com", "corp.example.com"),
		provider(t, "solo", outpostapi.ModeForwardSingle, "http://solo.example.net:9000", ""),
		provider(t, "twin1", outpostapi.ModeForwardSingle, "http://twin.example.net:1", ""),
		provider(t, "twin2", outpostapi.ModeForwardSingle, "http://twin.example.net:2", ""),
	}}
	r := routerFor(snap)
	cases := map[string]string{
		"prom.example.com":       "prom",
		"PROM.Example.COM":       "prom",
		"app.example.com:8080":   "ported",
		"app.example.com":        "domain", // port is part of the exact key
		"grafana.example.com":    "domain",
		"example.com":            "domain",
		"x.corp.example.com":     "deeper", // longest cookie domain wins
		"x.corp.example.com:443": "deeper",
		"evilexample.com":        "",
		"example.com.evil.org":   "",
		"corp.example.com.":      "deeper",
		"":                       "",
		"solo.example.net":       "solo", // no port ($host): the one app on that name
		"solo.example.net:9001":  "",
		"twin.example.net":       "", // two apps on that name: neither
	}
	for host, want := range cases {
		t.Run(host, func(t *testing.T) {
			got := ""
			if app := r.route(host); app != nil {
				got = app.provider.Name
			}
			if got != want {
				t.Errorf("route(%q) = %q, want %q", host, got, want)
			}
		})
	}

	single := routerFor(&outpostapi.Snapshot{Providers: snap.Providers[:1]})
	if app := single.route("anything.invalid"); app == nil || app.provider.Name != "prom" {
		t.Errorf("single provider fallback not applied")
	}
	// One provider left after another was rejected: the rejected one's
	// host is unknown, not the survivor's (issue 20, row 11).
	survivor := routerFor(&outpostapi.Snapshot{Providers: snap.Providers[:1],
		Rejected: []outpostapi.ProviderError{{Provider: "grafana", Field: "external_host", Err: "bad"}}})
	if app := survivor.route("grafana.example.com"); app != nil {
		t.Errorf("a rejected provider's host is served by %s", app.provider.Name)
	}
	if app := survivor.route("prom.example.com"); app == nil || app.provider.Name != "prom" {
		t.Errorf("the survivor's own host is not served")
	}
}

func TestNoAppForHostBody(t *testing.T) {
	s := New(Options{Log: discard()})
	s.Update(&outpostapi.Snapshot{Providers: []outpostapi.Provider{
		provider(t, "a", outpostapi.ModeProxy, "https://a.example.com", ""),
		provider(t, "b", outpostapi.ModeProxy, "https://b.example.com", ""),
	}})
	req := httptest.NewRequest("GET", "http://other.example.com/x", nil)
	req.Header.Set("X-Forwarded-Host", "a.example.com") // untrusted: must not route
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 400 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	want := "{\n\t\"Message\": \"no app for hostname\",\n\t\"Host\": \"other.example.com\",\n\t\"Detail\": \"Check the outpost settings and make sure 'other.example.com' is included.\"\n}"
	if rec.Body.String() != want {
		t.Errorf("body:\n%s\nwant:\n%s", rec.Body.String(), want)
	}
}

// Snapshots are swapped while requests are in flight; run under -race.
func TestUpdateWhileServing(t *testing.T) {
	s := New(Options{Log: discard()})
	srv := httptest.NewServer(s)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/outpost.goauthentik.io/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("ping before config: %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || s.Ready() {
		t.Fatalf("before config: %d ready=%v", resp.StatusCode, s.Ready())
	}

	a := &outpostapi.Snapshot{Providers: []outpostapi.Provider{provider(t, "a", outpostapi.ModeProxy, "https://a.example.com", "")}}
	b := &outpostapi.Snapshot{Providers: []outpostapi.Provider{
		provider(t, "a", outpostapi.ModeProxy, "https://a.example.com", ""),
		provider(t, "b", outpostapi.ModeProxy, "https://b.example.com", ""),
	}}
	if failed := s.Update(a); len(failed) != 0 {
		t.Fatalf("providers left out: %v", failed)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				s.Update(a)
			} else {
				s.Update(b)
			}
		}
	}()
	noFollow := &http.Client{Transport: webtest.Navigating(nil), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := 0; i < 200; i++ {
		req, _ := http.NewRequest("GET", srv.URL+"/graph", nil)
		req.Host = "a.example.com"
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// Host a is in every snapshot: it must always reach provider a,
		// which sends an unauthenticated browser to sign in.
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "https://a.example.com/outpost.goauthentik.io/start?rd=") {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, loc)
		}
	}
	close(stop)
	wg.Wait()
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// routerFor builds a router over bare applications (no login machinery).
func routerFor(snap *outpostapi.Snapshot) *router {
	apps := map[*outpostapi.Provider]*application{}
	for i := range snap.Providers {
		apps[&snap.Providers[i]] = &application{provider: &snap.Providers[i]}
	}
	return newRouter(snap, apps)
}

// A provider the data plane cannot build is left out and named by field;
// the others keep serving.
func TestUpdateLeavesOutUnbuildableProvider(t *testing.T) {
	bad := provider(t, "bad", outpostapi.ModeProxy, "https://bad.example.com", "")
	bad.CookieSecret = "short" // valid for the core, too short for the cookie codec
	good := provider(t, "good", outpostapi.ModeProxy, "https://good.example.com", "")
	s := New(Options{Log: discard()})
	failed := s.Update(&outpostapi.Snapshot{Providers: []outpostapi.Provider{bad, good}})
	if len(failed) != 1 || failed[0].Provider != "bad" || failed[0].Field != "cookie_secret" || failed[0].Err == "" {
		t.Fatalf("failed = %+v", failed)
	}
	// Nothing is served as "bad", and "good" does not take its host over:
	// the single-provider fallback (spec §4) is off when one was left out.
	for host, want := range map[string]int{"good.example.com": http.StatusFound, "bad.example.com": http.StatusBadRequest} {
		t.Run(host, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://"+host+"/", nil)
			req.Header.Set("Accept", "text/html")
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != want {
				t.Errorf("%s: %d, want %d", host, rec.Code, want)
			}
			if loc := rec.Header().Get("Location"); want == http.StatusFound && !strings.HasPrefix(loc, "https://good.example.com/outpost.goauthentik.io/start") {
				t.Errorf("%s: sent to %s", host, loc)
			}
			// A browser's page says a provider for the host was refused.
			if want == http.StatusBadRequest && !strings.Contains(rec.Body.String(), "its configuration was refused") {
				t.Errorf("%s: %s", host, rec.Body.String())
			}
		})
	}
}
