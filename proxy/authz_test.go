package proxy_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/internal/testissuer"
	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
)

// authzStack is a standalone outpost in front of a recording app, with
// providers from YAML at a test issuer: "prom" in proxy mode and "fwd"
// (forward_single) with the same rules, plus "mail" (email rules).
type authzStack struct {
	issuer  *testissuer.Issuer
	outpost string // http://127.0.0.1:port
	port    string
	logs    *proctest.Buffer
	metrics *metrics.Metrics
	app     *httptest.Server
}

var authzUsers = map[string]testissuer.User{
	"olga":    {Password: "pw", Claims: map[string]any{"groups": []string{"ops"}, "email": "olga@example.com", "email_verified": true}},
	"ada":     {Password: "pw", Claims: map[string]any{"groups": []string{"ops", "admins"}, "email": "ada@example.com", "email_verified": true}},
	"nogroup": {Password: "pw", Claims: map[string]any{"email": "n@example.com", "email_verified": true}},
	"strgrp":  {Password: "pw", Claims: map[string]any{"groups": "ops admins", "email": "s@example.com", "email_verified": true}},
	"casey":   {Password: "pw", Claims: map[string]any{"groups": []string{"Ops", "ADMINS"}, "email": "c@example.com", "email_verified": true}},
	"mallory": {Password: "pw", Claims: map[string]any{"groups": []string{"ops"}, "email": "m@example.com@evil.com", "email_verified": true}},
	"uma":     {Password: "pw", Claims: map[string]any{"groups": []string{"ops"}, "email": "uma@example.com", "email_verified": false}},
	"eve":     {Password: "pw", Claims: map[string]any{"groups": []string{"ops"}, "email": "eve@evil.com", "email_verified": true}},
	// akp's tokens carry an ak_proxy claim as an authentik core writes it;
	// from a standalone issuer it must mean nothing (see akProxyAt).
	"akp": {Password: "pw", Claims: map[string]any{"groups": []string{"ops"}, "email": "akp@example.com", "email_verified": true,
		"ak_proxy": map[string]any{"is_superuser": true, "backend_override": "http://127.0.0.1:9", "host_header": "admin.internal",
			"user_attributes": map[string]any{"additionalHeaders": map[string]any{"X-Authentik-Username": "alice", "X-Role": "admin"}}}}},
}

const authzRules = `    allowed_groups: [ops]
    paths:
      - prefix: /api/v1/admin
        allowed_groups: [admins]
      - prefix: /api/v2/silences
        methods: [POST, DELETE]
        allowed_groups: [admins]
`

// standaloneProvider is one provider of a standalone YAML file at issuer,
// client id "<name>-client", with rules (YAML lines indented for it).
func standaloneProvider(name, mode, externalHost, upstream, issuer, rules string) string {
	return fmt.Sprintf(`  - name: %s
    mode: %s
    external_host: http://%s
    internal_host: %s
    issuer: %s
    client_id: %s-client
    client_secret: %s-secret
    cookie_secret: cookie-secret-0123456789abcdef
    scopes_to_request: [openid, email, profile, groups]
    skip_path_regex: |
      ^/-/healthy$
%s`, name, mode, externalHost, upstream, issuer, name, name, rules)
}

func newAuthzStack(t *testing.T) *authzStack {
	t.Helper()
	return newAuthzStackWith(t, nil)
}

// newAuthzStackWith is newAuthzStack with the issuer set up by prepare
// before the outpost loads its providers (and discovers the issuer).
func newAuthzStackWith(t *testing.T, prepare func(*testissuer.Issuer)) *authzStack {
	t.Helper()
	s := &authzStack{issuer: testissuer.Start(t, authzUsers), logs: &proctest.Buffer{}, metrics: metrics.New("u", "0.1.0", "")}
	if prepare != nil {
		prepare(s.issuer)
	}
	s.app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App-Saw-Override", strings.Join(r.Header.Values("X-Http-Method-Override"), ","))
		w.Header().Set("X-App-Saw-Role", r.Header.Get("X-Role"))
		w.Header().Set("X-App-Saw-Host", r.Host)
		fmt.Fprintf(w, "app: %s %s as %q", r.Method, r.URL.Path, r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(s.app.Close)
	ln := listen(t)
	s.outpost = "http://" + ln.Addr().String()
	_, s.port, _ = strings.Cut(ln.Addr().String(), ":")
	provider := func(name, mode, host, rules string) string {
		return standaloneProvider(name, mode, host+":"+s.port, s.app.URL, s.issuer.URL, rules)
	}
	doc := "outpost: {name: authz}\nproviders:\n" +
		provider("prom", "proxy", "127.0.0.1", authzRules) +
		provider("fwd", "forward_single", "fwd.localhost", authzRules) +
		provider("mail", "proxy", "mail.localhost", "    allowed_email_domains: [example.com]\n")
	serveStandalone(t, ln, doc, proxy.Options{Log: slog.New(slog.NewJSONHandler(s.logs, nil)), Metrics: s.metrics.Proxy, CredentialFailuresPerMinute: 5})
	return s
}

// serveStandalone serves the standalone YAML doc on ln until the test
// ends. opts defaults: no log, version 0.1.0, 127.0.0.0/8 trusted (the
// nginx and Caddy of the tests run there).
func serveStandalone(t *testing.T, ln net.Listener, doc string, opts proxy.Options) *proxy.Server {
	t.Helper()
	snap, err := outpostapi.ParseStatic([]byte(doc), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Version == "" {
		opts.Version = "0.1.0"
	}
	if opts.TrustedProxies == nil {
		opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	srv := proxy.New(opts)
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
	front := proxy.NewHTTPServer(srv)
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })
	return srv
}

// fronted is an app behind two forward_single providers with authzRules at
// a test issuer, one for real Caddy and one for real nginx with the
// shipped files, each on an address of its own.
type fronted struct {
	issuer                        *testissuer.Issuer
	app                           *rowApp
	caddyAddr, nginxAddr, outpost string
}

func frontedPair(t *testing.T, name string) fronted {
	t.Helper()
	issuer := testissuer.Start(t, authzUsers)
	app := newRowApp(t, "app")
	caddyLn, nginxLn, outLn := reserve(t), reserve(t), listen(t)
	caddyAddr, nginxAddr := caddyLn.Addr().String(), nginxLn.Addr().String()
	caddyLn.Close()
	nginxLn.Close()
	serveStandalone(t, outLn, "outpost: {name: "+name+"}\nproviders:\n"+
		standaloneProvider("caddy", "forward_single", caddyAddr, app.URL, issuer.URL, authzRules)+
		standaloneProvider("nginx", "forward_single", nginxAddr, app.URL, issuer.URL, authzRules), proxy.Options{})
	outpost := outLn.Addr().String()
	runCaddy(t, caddyAddr, outpost, caddySite{"http://" + caddyAddr, app.URL})
	runNginxServers(t, nginxAddr, outpost, "../deploy/nginx", nginxServer{app: app.URL})
	return fronted{issuer: issuer, app: app, caddyAddr: caddyAddr, nginxAddr: nginxAddr, outpost: outpost}
}

// viaProxy asks the proxy-mode provider; viaForward asks the forward-auth
// endpoint of the forward_single provider about the same request, as nginx
// would. Both return the status the client would see.
func (s *authzStack) viaProxy(t *testing.T, method, path string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, s.outpost+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

// nginx's auth_request always asks with GET; the shipped snippet sends the
// real method in X-Original-Method.
func (s *authzStack) viaForward(t *testing.T, method, path string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.outpost+"/outpost.goauthentik.io/auth/nginx", nil)
	req.Host = "fwd.localhost:" + s.port
	req.Header.Set("X-Original-URL", "http://fwd.localhost:"+s.port+path)
	if method != "" {
		req.Header.Set("X-Original-Method", method)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readBody(resp)
}

// Allowed and denied users per rule, per path and per method, with bearer
// tokens, in proxy mode and through forward auth: the same answer in both.
func TestRulesSameInProxyAndForwardAuth(t *testing.T) {
	s := newAuthzStack(t)
	cases := []struct {
		user, method, path string
		want               int
	}{
		{"olga", "GET", "/graph", 200},
		{"olga", "GET", "/api/v1/admin/tsdb", 403},
		{"olga", "GET", "/api/v1/admin", 403},
		{"olga", "GET", "/api/v1/administrators", 200}, // a prefix ends on a segment
		{"olga", "GET", "/api/v1/admin;x/tsdb", 403},   // /api/v1/admin/tsdb to a server dropping ";" parameters
		{"olga", "GET", "/api/v1;v=2/admin", 403},
		{"olga", "GET", "/api/v2/silences", 200},
		{"olga", "POST", "/api/v2/silences", 403},
		{"olga", "DELETE", "/api/v2/silences/3", 403},
		{"ada", "POST", "/api/v2/silences", 200},
		{"ada", "GET", "/api/v1/admin/tsdb", 200},
		{"nogroup", "GET", "/graph", 403},     // no groups claim
		{"strgrp", "GET", "/graph", 403},      // groups as a string
		{"casey", "GET", "/graph", 403},       // "Ops" is not "ops" by default
		{"nogroup", "GET", "/-/healthy", 200}, // a skipped path stays public
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s_%s_%s", c.user, c.method, c.path), func(t *testing.T) {
			// Each client has its own address, so the wrong-credential budget
			// of one never affects another.
			token := s.issuer.Token(c.user, "prom-client", time.Hour)
			fwdToken := s.issuer.Token(c.user, "fwd-client", time.Hour)
			pStatus, pBody := s.viaProxy(t, c.method, c.path, "Authorization", "Bearer "+token)
			fStatus, _ := s.viaForward(t, c.method, c.path, "Authorization", "Bearer "+fwdToken)
			if pStatus != c.want || fStatus != c.want {
				t.Errorf("%s %s %s: proxy %d, forward auth %d, want %d (%s)", c.user, c.method, c.path, pStatus, fStatus, c.want, pBody)
			}
			if pStatus == 200 && c.path != "/-/healthy" && !strings.Contains(pBody, `as "`+c.user+`"`) {
				t.Errorf("%s %s: app saw %s", c.user, c.path, pBody)
			}
		})
	}
}

// A standalone issuer's token with an ak_proxy claim (another backend, a
// Host, extra identity headers) is served as any other: internal_host,
// the client's Host, only the outpost's identity headers (issue 20, row 2).
func TestStandaloneIgnoresAKProxy(t *testing.T) {
	s := newAuthzStack(t)
	req, _ := http.NewRequest("GET", s.outpost+"/graph", nil)
	req.Header.Set("Authorization", "Bearer "+s.issuer.Token("akp", "prom-client", time.Hour))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(resp)
	if resp.StatusCode != 200 || body != `app: GET /graph as "akp"` {
		t.Errorf("%d %q, want the app at internal_host (not the token's backend_override) to see akp", resp.StatusCode, body)
	}
	if v := resp.Header.Get("X-App-Saw-Role"); v != "" {
		t.Errorf("the app received X-Role %q from the token's additionalHeaders", v)
	}
	if v := resp.Header.Get("X-App-Saw-Host"); v != strings.TrimPrefix(s.outpost, "http://") {
		t.Errorf("the app saw Host %q", v)
	}
}

// The rules judge the method the app acts on: a method's letter case does
// not step around a rule for POST, and a method-override header never
// reaches the app (proxy mode) or is judged too (forward auth).
func TestRulesSeeTheMethodTheAppActsOn(t *testing.T) {
	s := newAuthzStack(t)
	for _, c := range []struct {
		user, method, override string
		want                   int
	}{
		{"olga", "post", "", 403},
		{"olga", "delete", "", 403},
		{"olga", "Post", "", 403},
		{"ada", "post", "", 200},
		{"olga", "GET", "POST", 403},
		{"olga", "GET", "delete", 403},
		{"olga", "GET", "GET", 200},
		{"ada", "GET", "POST", 200},
	} {
		t.Run(c.user+" "+c.method+" override "+c.override, func(t *testing.T) {
			auth := "Bearer " + s.issuer.Token(c.user, "fwd-client", time.Hour)
			header := []string{"Authorization", auth}
			if c.override != "" {
				header = append(header, "X-HTTP-Method-Override", c.override)
			}
			if got, body := s.viaForward(t, c.method, "/api/v2/silences", header...); got != c.want {
				t.Errorf("forward auth: %d, want %d (%s)", got, c.want, body)
			}
			req, _ := http.NewRequest(c.method, s.outpost+"/api/v2/silences", nil)
			req.Header.Set("Authorization", "Bearer "+s.issuer.Token(c.user, "prom-client", time.Hour))
			if c.override != "" {
				req.Header.Set("X-HTTP-Method-Override", c.override)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			want := c.want
			if c.override != "" {
				want = 200 // proxy mode judges the method sent, and removes the override
			}
			if resp.StatusCode != want {
				t.Errorf("proxy mode: %d, want %d (%s)", resp.StatusCode, want, body)
			}
			if v := resp.Header.Get("X-App-Saw-Override"); v != "" {
				t.Errorf("proxy mode: the app received X-HTTP-Method-Override %q", v)
			}
		})
	}
}

// Through forward auth, rules per method cannot be judged without the
// original method: a reverse proxy that does not send it gets a
// configuration error, never the GET verdict for a POST.
func TestForwardAuthWithoutOriginalMethod(t *testing.T) {
	s := newAuthzStack(t)
	token := s.issuer.Token("olga", "fwd-client", time.Hour)
	if got, body := s.viaForward(t, "", "/api/v2/silences", "Authorization", "Bearer "+token); got != 500 || body != "configuration error" {
		t.Errorf("no X-Original-Method: %d %s", got, body)
	}
	// nginx shows its own 403: a body would only cost the connection.
	if got, body := s.viaForward(t, "POST", "/api/v2/silences", "Authorization", "Bearer "+token); got != 403 || body != "" {
		t.Errorf("X-Original-Method POST: %d %q, want 403 without a body", got, body)
	}
}

// The rules apply to a signed-in browser too, and a refusal is a 403 page
// (HTML for browsers, JSON for API clients) that names no rule, while the
// log says which rule refused and the decision metric counts it.
func TestRulesForBrowserSessions(t *testing.T) {
	s := newAuthzStack(t)
	c := webtest.Browser(t)
	resp := webtest.SignIn(t, c, webtest.Get(t, c, s.outpost+"/graph"), "olga", "pw")
	if body := webtest.ReadBody(resp); resp.StatusCode != 200 || !strings.Contains(body, `as "olga"`) {
		t.Fatalf("olga signs in: %d %s", resp.StatusCode, body)
	}
	resp = webtest.Get(t, c, s.outpost+"/api/v1/admin/tsdb")
	body := webtest.ReadBody(resp)
	if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("browser at admin: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, internal := range []string{"admins", "allowed_groups", "paths["} {
		if strings.Contains(body, internal) {
			t.Errorf("the 403 page names %q", internal)
		}
	}
	resp = webtest.Get(t, c, s.outpost+"/api/v1/admin/tsdb", "Accept", "application/json")
	if body := webtest.ReadBody(resp); resp.StatusCode != 403 || !strings.HasPrefix(body, "{") {
		t.Errorf("API client at admin: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(s.logs.String(), `"rule":"paths[0] (prefix /api/v1/admin).allowed_groups"`) {
		t.Errorf("the log does not name the refusing rule:\n%s", s.logs.String())
	}
	text := scrapeText(t, s.metrics)
	if got := sample(text, `outpost_auth_decisions_total{host="127.0.0.1:`+s.port+`",method="session",result="denied"}`); got != 2 {
		t.Errorf("denied decisions counted: %v, want 2", got)
	}
}

// Email rules: a second "@", an unverified address and another domain are
// each refused.
func TestEmailRuleEdgeCases(t *testing.T) {
	s := newAuthzStack(t)
	for user, want := range map[string]int{"olga": 200, "mallory": 403, "uma": 403, "eve": 403, "nogroup": 200} {
		t.Run(user, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.outpost+"/", nil)
			req.Host = "mail.localhost:" + s.port
			req.Header.Set("Authorization", "Bearer "+s.issuer.Token(user, "mail-client", time.Hour))
			if got, body := do(t, req); got != want {
				t.Errorf("%s: %d, want %d (%s)", user, got, want, body)
			}
		})
	}
}

// A burst of wrong tokens from one address is limited (429) without asking
// the issuer; another address is unaffected, and good tokens already
// verified keep working.
func TestWrongCredentialsLimitedPerAddress(t *testing.T) {
	s := newAuthzStack(t)
	good := s.issuer.Token("olga", "prom-client", time.Hour)
	if got, _ := s.viaProxy(t, "GET", "/graph", "Authorization", "Bearer "+good, "X-Forwarded-For", "203.0.113.7"); got != 200 {
		t.Fatalf("good token: %d", got)
	}
	var statuses []int
	for i := range 12 {
		got, _ := s.viaProxy(t, "GET", "/graph", "Authorization", fmt.Sprintf("Bearer wrong-%d", i), "X-Forwarded-For", "203.0.113.7")
		statuses = append(statuses, got)
	}
	if statuses[0] != 401 || statuses[len(statuses)-1] != 429 {
		t.Errorf("burst from one address: %v, want 401s then 429s", statuses)
	}
	if got, _ := s.viaProxy(t, "GET", "/graph", "Authorization", "Bearer "+good, "X-Forwarded-For", "203.0.113.7"); got != 200 {
		t.Errorf("the verified token from the limited address: %d", got)
	}
	if got, _ := s.viaProxy(t, "GET", "/graph", "Authorization", "Bearer wrong-x", "X-Forwarded-For", "198.51.100.9"); got != 401 {
		t.Errorf("another address: %d, want 401", got)
	}
	fresh := s.issuer.Token("ada", "prom-client", time.Hour)
	if got, _ := s.viaProxy(t, "GET", "/graph", "Authorization", "Bearer "+fresh, "X-Forwarded-For", "198.51.100.9"); got != 200 {
		t.Errorf("a good token from another address: %d", got)
	}
	if got := sample(scrapeText(t, s.metrics), `outpost_credentials_rate_limited_total{host="127.0.0.1:`+s.port+`"}`); got < 1 {
		t.Errorf("limits counted: %v", got)
	}
}

// IPv6 clients are limited per /64: a host that picks a fresh address in
// its prefix for every wrong token is still one client; the next /64 is
// another (issue 20).
func TestWrongCredentialsLimitedPerIPv6Prefix(t *testing.T) {
	s := newAuthzStack(t)
	var statuses []int
	for i := range 12 {
		got, _ := s.viaProxy(t, "GET", "/graph", "Authorization", fmt.Sprintf("Bearer wrong-%d", i), "X-Forwarded-For", fmt.Sprintf("2001:db8:1:2::%x", i+1))
		statuses = append(statuses, got)
	}
	if statuses[0] != 401 || statuses[len(statuses)-1] != 429 {
		t.Errorf("burst from one /64, a new address each time: %v, want 401s then 429s", statuses)
	}
	for name, xff := range map[string]string{
		"same /64, last address": "2001:db8:1:2:ffff:ffff:ffff:ffff",
		"the next /64":           "2001:db8:1:3::1",
		"an IPv4 client":         "198.51.100.9",
	} {
		t.Run(name, func(t *testing.T) {
			// A token of its own: a refusal is cached per token.
			got, _ := s.viaProxy(t, "GET", "/graph", "Authorization", "Bearer wrong-for-"+xff, "X-Forwarded-For", xff)
			want := 401
			if strings.HasPrefix(xff, "2001:db8:1:2:") {
				want = 429
			}
			if got != want {
				t.Errorf("%s: %d, want %d", xff, got, want)
			}
		})
	}
}
