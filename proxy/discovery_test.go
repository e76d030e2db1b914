package proxy_test

import (
	"fmt"
	"github.com/outpost-dev/outpost/internal/testissuer"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
)

// freeLoopback is a 127.0.0.1 address nobody listens on right now.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln := reserve(t)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// discoveryOutpost runs an outpost with the standalone providers of yaml
// (external hosts on its own listener) and returns its address, log and
// metrics.
type discoveryOutpost struct {
	srv     *proxy.Server
	addr    string
	logs    *proctest.Buffer
	metrics *metrics.Metrics
}

func newDiscoveryOutpost(t *testing.T) *discoveryOutpost {
	t.Helper()
	o := &discoveryOutpost{logs: &proctest.Buffer{}, metrics: metrics.New("u", "v", "")}
	o.srv = proxy.New(proxy.Options{Log: slog.New(slog.NewJSONHandler(o.logs, nil)), Version: "0.1.0", Metrics: o.metrics.Proxy})
	proxy.SetDiscoveryBackoff(o.srv, 50*time.Millisecond)
	t.Cleanup(o.srv.Close)
	ln := listen(t)
	o.addr = ln.Addr().String()
	front := proxy.NewHTTPServer(o.srv)
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })
	return o
}

// load puts providers (name → issuer) in force.
func (o *discoveryOutpost) load(t *testing.T, issuers map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("outpost: {name: standalone}\nproviders:\n")
	for name, iss := range issuers {
		fmt.Fprintf(&b, `  - name: %[1]s
    external_host: http://%[1]s.localhost
    internal_host: http://127.0.0.1:1
    issuer: %[2]s
    client_id: %[1]s-client
    client_secret: %[1]s-secret
    cookie_secret: standalone-cookie-secret-0123
`, name, iss)
	}
	snap, err := outpostapi.ParseStatic([]byte(b.String()), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if failed := o.srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
}

// get asks the outpost for path as host.
func (o *discoveryOutpost) get(t *testing.T, host, path string) (int, string, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+o.addr+path, nil)
	req.Host = host
	req.Header.Set("Accept", "text/html")
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	body := readBody(resp)
	if loc := resp.Header.Get("Location"); loc != "" {
		body = loc
	}
	return resp.StatusCode, body, time.Since(start)
}

// ready is the per-provider metric, -1 when absent.
func (o *discoveryOutpost) ready(t *testing.T, provider string) float64 {
	t.Helper()
	return sample(scrapeText(t, o.metrics), `outpost_provider_ready{provider="`+provider+`"}`)
}

// waitUntil polls cond for up to 20 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Issue 22, item 2: an issuer that is down at start-up is found at once:
// the log names the provider and the discovery URL, readiness and the
// metric say the provider is not ready while the others are, a sign-in
// gets a page at once, and when the issuer comes up the provider recovers
// without a restart. A reload with a wrong issuer likewise.
func TestDiscoveryAtStartUpAndRecovery(t *testing.T) {
	good := testIssuerURL(t)
	downAddr := freeLoopback(t)
	down := "http://" + downAddr
	o := newDiscoveryOutpost(t)
	o.load(t, map[string]string{"toy": down, "graf": good})
	wellKnown := down + "/.well-known/openid-configuration"

	waitUntil(t, "a log line for the failed discovery", func() bool { return strings.Contains(o.logs.String(), "OIDC discovery failed") })
	for _, line := range strings.Split(o.logs.String(), "\n") {
		if strings.Contains(line, "OIDC discovery failed") && !(strings.Contains(line, `"provider":"toy"`) && strings.Contains(line, `"url":"`+wellKnown+`"`)) {
			t.Errorf("the log line does not name the provider and the URL: %s", line)
		}
	}
	waitUntil(t, "graf ready", func() bool { return o.ready(t, "graf") == 1 })

	notReady := []struct {
		name, path string
		code       int
		want       string
	}{
		// The outpost stays in service for graf: a 503 here would take
		// every provider out with toy.
		{"outpost", "/outpost.goauthentik.io/ready", 200, `provider "toy" not ready: OIDC discovery at ` + wellKnown},
		{"toy alone", "/outpost.goauthentik.io/ready?provider=toy", 503, wellKnown},
		{"graf alone", "/outpost.goauthentik.io/ready?provider=graf", 200, "ready\n"},
		{"unknown provider", "/outpost.goauthentik.io/ready?provider=nope", 404, `no provider "nope"`},
	}
	for _, tc := range notReady {
		t.Run("while down: "+tc.name, func(t *testing.T) {
			code, body, _ := o.get(t, "any.localhost", tc.path)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Errorf("%s: %d %q, want %d with %q", tc.path, code, body, tc.code, tc.want)
			}
		})
	}
	if got := o.ready(t, "toy"); got != 0 {
		t.Errorf("outpost_provider_ready{provider=toy} = %v while its issuer is down, want 0", got)
	}
	// A sign-in meanwhile gets a page at once, not a wait on the issuer.
	code, body, took := o.get(t, "toy.localhost", "/outpost.goauthentik.io/start")
	if code != http.StatusBadGateway || !strings.Contains(body, "could not be reached") || took > 2*time.Second {
		t.Errorf("sign-in while the issuer is down: %d after %s: %q", code, took, body)
	}

	testissuer.ServeDiscoveryAt(t, downAddr)
	waitUntil(t, "toy ready once its issuer is up", func() bool {
		code, _, _ := o.get(t, "any.localhost", "/outpost.goauthentik.io/ready?provider=toy")
		return code == 200
	})
	if code, body, _ := o.get(t, "any.localhost", "/outpost.goauthentik.io/ready"); code != 200 || body != "ready\n" {
		t.Errorf("outpost readiness after recovery: %d %q", code, body)
	}
	if got := o.ready(t, "toy"); got != 1 {
		t.Errorf("outpost_provider_ready{provider=toy} = %v after recovery, want 1", got)
	}
	if code, loc, _ := o.get(t, "toy.localhost", "/outpost.goauthentik.io/start"); code != http.StatusFound || !strings.HasPrefix(loc, down+"/authorize?") {
		t.Errorf("sign-in after recovery: %d %s", code, loc)
	}
	if !strings.Contains(o.logs.String(), "OIDC discovery succeeded: the provider can sign people in") {
		t.Errorf("no log line says the provider recovered:\n%s", o.logs)
	}

	t.Run("reload with a wrong issuer", func(t *testing.T) {
		wrongAddr := freeLoopback(t)
		wrong := "http://" + wrongAddr
		o.load(t, map[string]string{"toy": wrong, "graf": good})
		// graf's discovery is tried again but its document serves meanwhile.
		if code, _, _ := o.get(t, "any.localhost", "/outpost.goauthentik.io/ready?provider=graf"); code != 200 {
			t.Errorf("graf after the reload: %d", code)
		}
		waitUntil(t, "the reload's failed discovery logged", func() bool {
			return strings.Contains(o.logs.String(), `"url":"`+wrong+`/.well-known/openid-configuration"`)
		})
		if code, body, _ := o.get(t, "any.localhost", "/outpost.goauthentik.io/ready?provider=toy"); code != 503 || !strings.Contains(body, wrong) {
			t.Errorf("toy with a wrong issuer: %d %q", code, body)
		}
		if got := o.ready(t, "toy"); got != 0 {
			t.Errorf("outpost_provider_ready{provider=toy} = %v with a wrong issuer, want 0", got)
		}
		testissuer.ServeDiscoveryAt(t, wrongAddr)
		waitUntil(t, "toy ready once the new issuer is up", func() bool { return o.ready(t, "toy") == 1 })
	})

	t.Run("a provider removed on reload stops and leaves no series", func(t *testing.T) {
		goneAddr := freeLoopback(t)
		o.load(t, map[string]string{"gone": "http://" + goneAddr, "graf": good})
		waitUntil(t, "gone not ready", func() bool { return strings.Contains(o.logs.String(), goneAddr) })
		o.get(t, "gone.localhost", "/")
		o.get(t, "graf.localhost", "/")
		if text := scrapeText(t, o.metrics); !strings.Contains(text, `host="gone.localhost"`) {
			t.Fatalf("no series for gone.localhost while it is configured:\n%s", text)
		}
		o.load(t, map[string]string{"graf": good})
		// Every series of the host goes with it: kept, 1,000 providers
		// swapped in and out held 20 MB for the life of the process.
		text := scrapeText(t, o.metrics)
		for _, l := range strings.Split(text, "\n") {
			if strings.Contains(l, `host="gone.localhost"`) {
				t.Errorf("a series of the removed host is still exported: %s", l)
			}
		}
		for _, series := range []string{`outpost_requests_total{host="graf.localhost"`, `outpost_logins_started_total{host="graf.localhost"}`} {
			if !strings.Contains(text, series) {
				t.Errorf("the remaining host lost %s", series)
			}
		}
		before := strings.Count(o.logs.String(), goneAddr)
		time.Sleep(500 * time.Millisecond) // ten retry periods of 50 ms, doubling
		if after := strings.Count(o.logs.String(), goneAddr); after != before {
			t.Errorf("the removed provider's discovery went on: %d more log lines", after-before)
		}
		if got := o.ready(t, "gone"); got != -1 {
			t.Errorf("outpost_provider_ready{provider=gone} = %v after it was removed, want no series", got)
		}
		if got := o.ready(t, "toy"); got != -1 {
			t.Errorf("outpost_provider_ready{provider=toy} = %v after it was removed, want no series", got)
		}
	})
}

// testIssuerURL is an issuer that is up: a discovery document only.
func testIssuerURL(t *testing.T) string {
	t.Helper()
	addr := freeLoopback(t)
	testissuer.ServeDiscoveryAt(t, addr)
	return "http://" + addr
}

// Core providers take their endpoints from the core's snapshot: there is
// nothing to discover, and they are ready once built.
func TestCoreProviderReadyWithoutDiscovery(t *testing.T) {
	m := metrics.New("u", "v", "")
	srv := proxy.New(proxy.Options{Log: slog.New(slog.DiscardHandler), Metrics: m.Proxy})
	defer srv.Close()
	p := outpostapi.ProxyOutpostConfig{
		PK: 1, Name: "core-app", ExternalHost: "http://core-app.localhost", InternalHost: "http://127.0.0.1:1",
		Mode: outpostapi.ModeProxy, ClientID: "c", ClientSecret: "s", CookieSecret: "0123456789abcdef0123",
		OIDCConfiguration: outpostapi.OpenIDConnectConfiguration{
			Issuer: "http://core.localhost/application/o/core-app/", AuthorizationEndpoint: "http://core.localhost/authorize",
			TokenEndpoint: "http://core.localhost/token", IDTokenSigningAlgValuesSupported: []string{"HS256"},
		},
	}
	prov, perr := outpostapi.ValidateProvider(p, "")
	if perr != nil {
		t.Fatal(perr)
	}
	srv.Update(&outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "o"}, Providers: []outpostapi.Provider{prov}})
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/outpost.goauthentik.io/ready", 200, "ready\n"},
		{"/outpost.goauthentik.io/ready?provider=core-app", 200, "ready\n"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest("GET", "http://any.localhost"+tc.path, nil))
			if rec.Code != tc.code || rec.Body.String() != tc.body {
				t.Errorf("%d %q", rec.Code, rec.Body.String())
			}
		})
	}
	if got := sample(scrapeText(t, m), `outpost_provider_ready{provider="core-app"}`); got != 1 {
		t.Errorf("outpost_provider_ready{provider=core-app} = %v, want 1", got)
	}
}
