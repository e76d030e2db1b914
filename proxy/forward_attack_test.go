package proxy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// What a client controls in a request that nginx (or Caddy) asks the
// outpost about: the request line (method, origin- or absolute-form target,
// the path's encodings), the Host header, every other header (the outpost's
// own X-Original-*/X-Forwarded-* names and X-authentik-* included, also
// twice), and the cookie (a session of another app). Each row below sends
// one such request through the real reverse proxy and asserts what the app
// behind it did not receive.

// rowApp is an app behind the reverse proxy: it records, by the X-Row
// header each attack carries, what it was asked and with which identity.
type rowApp struct {
	*httptest.Server
	mu   sync.Mutex
	seen map[string]*http.Request
}

func newRowApp(t *testing.T, name string) *rowApp {
	a := &rowApp{seen: map[string]*http.Request{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen[r.Header.Get("X-Row")] = r.Clone(r.Context())
		a.mu.Unlock()
		fmt.Fprintf(w, "%s serves %s to %q", name, r.URL.RequestURI(), r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *rowApp) got(row string) *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seen[row]
}

// rawRequest sends raw, as written (no client library tidies it), to addr
// and returns the answer.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to %q: %v", raw, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// attackEnv is two forward_single apps on one nginx port: app0 at
// 127.0.0.1:P (skip_path_regex ^/public/) and app1 at app1.localhost:P,
// each with a session of its own in hand.
type attackEnv struct {
	st               *stack
	addr, h0, h1     string
	app0, app1       *rowApp
	cookie0, cookie1 string
}

// newAttackEnv starts the stand-in core, the outpost, two apps and the
// reverse proxy that start(addr, outpost, app0URL, app1URL) runs, and signs
// alice in at each app through it.
func newAttackEnv(t *testing.T, start func(addr, outpost, app0, app1 string)) *attackEnv {
	t.Helper()
	return newAttackEnvWith(t, stackOptions{}, start)
}

// newAttackEnvWith is newAttackEnv with the stack's assertion settings
// from o.
func newAttackEnvWith(t *testing.T, o stackOptions, start func(addr, outpost, app0, app1 string)) *attackEnv {
	t.Helper()
	ln := reserve(t)
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	e := &attackEnv{addr: addr, h0: addr, h1: "app1.localhost:" + port,
		app0: newRowApp(t, "app0"), app1: newRowApp(t, "app1")}
	e.st = newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
		mode: "forward_single", trusted: true, external: "http://" + e.h0, secondApp: true, secondHost: e.h1, assertion: o.assertion})
	start(addr, strings.TrimPrefix(e.st.outpost, "http://"), e.app0.URL, e.app1.URL)
	c := resolvingBrowser(t, ".localhost")
	for _, site := range []struct {
		host, client string
		cookie       *string
	}{{e.h0, "app-client", &e.cookie0}, {e.h1, "app-b-client", &e.cookie1}} {
		resp := getPage(t, c, "http://"+site.host+"/home")
		if resp.Request.URL.Host != site.host {
			// The core remembers alice after the first app.
			resp = signIn(t, c, resp, "alice", "alice-pw")
		}
		if body := readBody(resp); resp.StatusCode != 200 || !strings.Contains(body, `to "alice"`) {
			t.Fatalf("sign-in at %s: %d at %s: %s", site.host, resp.StatusCode, resp.Request.URL, body)
		}
		u, _ := url.Parse("http://" + site.host + "/")
		for _, ck := range c.Jar.Cookies(u) {
			if strings.HasPrefix(ck.Name, "authentik_proxy_") {
				*site.cookie = ck.Name + "=" + ck.Value
			}
		}
		if *site.cookie == "" {
			t.Fatalf("no session cookie for %s", site.host)
		}
	}
	return e
}

// expand fills a row's request template: {H0} {H1} are the apps' hosts,
// {C0} {C1} their session cookies, {ROW} the row's name.
func (e *attackEnv) expand(tmpl, row string) string {
	r := strings.NewReplacer("{H0}", e.h0, "{H1}", e.h1, "{C0}", e.cookie0, "{C1}", e.cookie1, "{ROW}", row, "\n", "\r\n")
	return r.Replace(tmpl)
}

// noEvents asserts the core heard of no configuration error: nothing a
// client sends is the operator's to fix.
func (e *attackEnv) noEvents(t *testing.T) {
	t.Helper()
	time.Sleep(200 * time.Millisecond)
	req, _ := http.NewRequest("GET", e.st.core+"/api/devcore/status", nil)
	req.Header.Set("Authorization", "Bearer "+e.st.token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var status struct{ Events []map[string]any }
	_ = json.NewDecoder(r.Body).Decode(&status)
	for _, ev := range status.Events {
		t.Errorf("client requests raised an event at the core: %v", ev)
	}
}

// An attack row: a raw request, and what must come of it with the shipped
// snippets and with authentik's documented one. A status of 0 means any
// refusal (302 to sign in, 401, 403); open marks a hole that only the
// snippet can close (named in docs/forward-auth.md): the test asserts it is
// still open, so the docs stay true.
type attackRow struct {
	name string
	req  string
	// shipped and authentik: the status the client must get.
	shipped, authentik int
	// canonical: the shipped snippet redirects to this path.
	canonical string
	// open: with authentik's snippet the request passes with forged meta
	// headers.
	open bool
}

const anonGet = "GET {PATH} HTTP/1.1\nHost: {H0}\nAccept: text/html\nX-Row: {ROW}\n"

func anon(path, extra string) string {
	return strings.Replace(anonGet, "{PATH}", path, 1) + extra + "\n"
}

var nginxAttacks = []attackRow{
	{name: "client X-Original-URI in the reserved prefix", req: anon("/secret", "X-Original-URI: /outpost.goauthentik.io/x\n"), shipped: 302, authentik: 302},
	{name: "client X-Original-URI on a skipped path", req: anon("/secret", "X-Original-URI: /public/x\n"), shipped: 302, authentik: 302},
	{name: "client X-Original-URI absolute", req: anon("/secret", "X-Original-URI: http://{H0}/public/x\n"), shipped: 302, authentik: 302},
	{name: "client X-Original-URL on a skipped path", req: anon("/secret", "X-Original-URL: http://{H0}/public/x\n"), shipped: 302, authentik: 302},
	{name: "client X-Original-URL twice", req: anon("/secret", "X-Original-URL: http://{H0}/public/x\nX-Original-URL: http://{H0}/public/y\n"), shipped: 302, authentik: 302},
	{name: "client X-Original-URL in the reserved prefix", req: anon("/secret", "X-Original-URL: http://{H0}/outpost.goauthentik.io/start\n"), shipped: 302, authentik: 302},
	{name: "client X-Forwarded-Uri, -Proto, -Method", req: anon("/secret", "X-Forwarded-Uri: /public/x\nX-Forwarded-Proto: https\nX-Forwarded-Method: GET\n"), shipped: 302, authentik: 302},
	{name: "client X-Forwarded-Uri in the reserved prefix", req: anon("/secret", "X-Forwarded-Uri: /outpost.goauthentik.io/x\n"), shipped: 302, authentik: 302},
	{name: "app1's session with X-Forwarded-Host app1 on app0's server",
		req:     "GET /secret HTTP/1.1\nHost: {H0}\nX-Forwarded-Host: {H1}\nCookie: {C1}\nAccept: text/html\nX-Row: {ROW}\n\n",
		shipped: 302, authentik: 403},
	{name: "app1's session with X-Forwarded-Host app1 twice",
		req:     "GET /secret HTTP/1.1\nHost: {H0}\nX-Forwarded-Host: {H1}\nX-Forwarded-Host: {H1}\nCookie: {C1}\nAccept: text/html\nX-Row: {ROW}\n\n",
		shipped: 302, authentik: 403},
	{name: "app1's session, absolute-form target at app0, Host app1",
		req:     "GET http://{H0}/secret HTTP/1.1\nHost: {H1}\nCookie: {C1}\nAccept: text/html\nX-Row: {ROW}\n\n",
		shipped: 302, authentik: 403},
	{name: "app1's session, absolute-form target at app0, Host and X-Forwarded-Host app1",
		req:     "GET http://{H0}/secret HTTP/1.1\nHost: {H1}\nX-Forwarded-Host: {H1}\nCookie: {C1}\nAccept: text/html\nX-Row: {ROW}\n\n",
		shipped: 302, authentik: 403},
	{name: "app1's session with X-Original-URL at app1",
		req:     "GET /secret HTTP/1.1\nHost: {H0}\nX-Original-URL: http://{H1}/secret\nCookie: {C1}\nAccept: text/html\nX-Row: {ROW}\n\n",
		shipped: 302, authentik: 302},
	{name: "encoded slash onto a skipped path", req: anon("/public%2Fsecret", ""), shipped: 403, authentik: 403},
	{name: "encoded slash, lower case", req: anon("/public%2fsecret", ""), shipped: 403, authentik: 403},
	{name: "encoded backslash", req: anon("/public%5Csecret", ""), shipped: 403, authentik: 403},
	{name: "encoded #", req: anon("/public%23/secret", ""), shipped: 403, authentik: 403},
	{name: "doubled slash at the start", req: anon("//secret", ""), shipped: 302, authentik: 302, canonical: "/secret"},
	{name: "doubled slash inside", req: anon("/a//b", ""), shipped: 302, authentik: 302, canonical: "/a/b"},
	{name: "dot segment out of a skipped path", req: anon("/public/../secret", ""), shipped: 302, authentik: 302, canonical: "/secret"},
	{name: "encoded dot segment out of a skipped path", req: anon("/public/%2e%2e/secret", ""), shipped: 302, authentik: 302, canonical: "/secret"},
	{name: "signed in, forged identity and meta headers",
		req: "GET /page HTTP/1.1\nHost: {H0}\nCookie: {C0}\nX-Row: {ROW}\nX-authentik-username: admin\nX_authentik_username: admin\n" +
			"X-authentik-meta-jwks: forged\nX-authentik-meta-outpost: forged\nX-authentik-meta-version: forged\nX-authentik-meta-provider: forged\n\n",
		shipped: 200, authentik: 200, open: true},
}

func TestForwardAuthAttacksThroughNginx(t *testing.T) {
	for _, snippet := range []struct{ name, dir string }{
		{"shipped", "../deploy/nginx"},
		{"authentik's documented snippet", "testdata/nginx-authentik"},
	} {
		t.Run(snippet.name, func(t *testing.T) {
			e := newAttackEnv(t, func(addr, outpost, app0, app1 string) {
				runNginxServers(t, addr, outpost, snippet.dir,
					nginxServer{name: "127.0.0.1", app: app0}, nginxServer{name: "app1.localhost", app: app1})
			})
			shipped := snippet.dir == "../deploy/nginx"
			for _, row := range nginxAttacks {
				t.Run(row.name, func(t *testing.T) {
					resp, body := rawRequest(t, e.addr, e.expand(row.req, row.name))
					want := row.authentik
					if shipped {
						want = row.shipped
					}
					if resp.StatusCode != want {
						t.Errorf("status %d, want %d (Location %q): %.200s", resp.StatusCode, want, resp.Header.Get("Location"), body)
					}
					if row.canonical != "" && shipped && resp.Header.Get("Location") != "http://"+e.h0+row.canonical {
						t.Errorf("redirected to %q, want the canonical %s", resp.Header.Get("Location"), row.canonical)
					}
					if got := e.app1.got(row.name); got != nil {
						t.Errorf("app1 received %s", got.URL)
					}
					got := e.app0.got(row.name)
					if want != 200 {
						if got != nil {
							t.Errorf("app0 received %s as %q", got.URL, got.Header.Get("X-Authentik-Username"))
						}
						return
					}
					if got == nil {
						t.Fatal("app0 received nothing")
					}
					if v := got.Header.Values("X-Authentik-Username"); len(v) != 1 || v[0] != "alice" {
						t.Errorf("app0 saw X-Authentik-Username %q", v)
					}
					for name := range got.Header {
						if strings.Contains(name, "_") {
							t.Errorf("app0 received %s", name)
						}
					}
					forged := 0
					for _, name := range []string{"X-Authentik-Meta-Jwks", "X-Authentik-Meta-Outpost", "X-Authentik-Meta-Version", "X-Authentik-Meta-Provider"} {
						if slicesContains(got.Header.Values(name), "forged") {
							forged++
						}
					}
					switch {
					case shipped && forged > 0:
						t.Errorf("%d forged meta headers reached app0: %v", forged, got.Header)
					case !shipped && row.open && forged == 0:
						t.Errorf("authentik's snippet now clears the meta headers: update docs/forward-auth.md")
					}
				})
			}
			e.noEvents(t)
		})
	}
}

func slicesContains(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// Deep links survive sign-in behind nginx, with the shipped snippet (the
// outpost's sign-in link encodes the original URL) and with authentik's
// (rd unencoded, so the link's own query is cut at its first "&" into
// parameters of /start): the browser lands on the whole URL, its encodings
// intact, and the app is asked for exactly it.
func TestDeepLinksSurviveSignInThroughNginx(t *testing.T) {
	const link = "/graph?g0.expr=rate(http_requests_total%5B5m%5D)&g0.tab=1&g0.range_input=1h&from=a%26b%2Bc"
	for _, snippet := range []struct{ name, dir string }{
		{"shipped", "../deploy/nginx"},
		{"authentik's documented snippet", "testdata/nginx-authentik"},
	} {
		t.Run(snippet.name, func(t *testing.T) {
			ln := reserve(t)
			addr := ln.Addr().String()
			ln.Close()
			app := newRowApp(t, "app")
			st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
				mode: "forward_single", trusted: true, external: "http://" + addr})
			runNginxServers(t, addr, strings.TrimPrefix(st.outpost, "http://"), snippet.dir, nginxServer{app: app.URL})
			c := browser(t)
			resp := getPage(t, c, "http://"+addr+link, "X-Row", "deep")
			if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") {
				t.Fatalf("not sent to sign in: %d at %s", resp.StatusCode, resp.Request.URL)
			}
			resp = signIn(t, c, resp, "alice", "alice-pw")
			body := readBody(resp)
			if got := resp.Request.URL.String(); got != "http://"+addr+link {
				t.Errorf("landed on %s\nwant        %s", got, "http://"+addr+link)
			}
			if want := `app serves ` + link + ` to "alice"`; body != want {
				t.Errorf("the app answered %q\nwant               %q", body, want)
			}
		})
	}
}

// Each auth endpoint asked directly, as a trusted reverse proxy that passes
// on whatever the client wrote: the outpost alone must still decide for
// the application the original URL's host names, on a path it can trust,
// or refuse with a 4xx; never a 5xx, never an event at the core.
func TestForwardAuthEndpointsDirectly(t *testing.T) {
	e := newAttackEnv(t, func(addr, outpost, app0, app1 string) {
		runNginxServers(t, addr, outpost, "../deploy/nginx",
			nginxServer{name: "127.0.0.1", app: app0}, nginxServer{name: "app1.localhost", app: app1})
	})
	outpost := strings.TrimPrefix(e.st.outpost, "http://")
	const (
		nginx   = "GET /outpost.goauthentik.io/auth/nginx HTTP/1.1\nAccept: text/html\n"
		traefik = "GET /outpost.goauthentik.io/auth/traefik HTTP/1.1\nAccept: text/html\nX-Forwarded-Proto: http\n"
		caddy   = "GET /outpost.goauthentik.io/auth/caddy HTTP/1.1\nAccept: text/html\nX-Forwarded-Proto: http\n"
	)
	envoy := func(path string) string {
		return "GET /outpost.goauthentik.io/auth/envoy" + path + " HTTP/1.1\nAccept: text/html\n"
	}
	for _, row := range []struct {
		name, req string
		status    int
		// user is who the answer says it is ("" when it passes anonymously);
		// location, when set, must be the answer's Location.
		user, location string
	}{
		{"nginx: app1's session at app0's URL", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/secret\nCookie: {C1}\n", 401, "", ""},
		{"nginx: app1's URL, Host names app0", nginx + "Host: {H0}\nX-Original-URL: http://{H1}/secret\nCookie: {C1}\n", 403, "", ""},
		{"nginx: app1's URL, X-Forwarded-Host names app0", nginx + "Host: outpost:9000\nX-Forwarded-Host: {H0}\nX-Original-URL: http://{H1}/secret\nCookie: {C1}\n", 403, "", ""},
		{"nginx: app1's URL, Host the outpost's own name (ingress-nginx)", nginx + "Host: outpost:9000\nX-Original-URL: http://{H1}/secret\nCookie: {C1}\n", 200, "alice", ""},
		{"nginx: X-Original-URL wins over X-Original-URI", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/secret\nX-Original-URI: /public/x\n", 401, "", ""},
		{"nginx: X-Original-URL on a skipped path", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/public/x\n", 200, "", ""},
		{"nginx: X-Original-URI alone, skipped path", nginx + "Host: {H0}\nX-Original-URI: /public/x\n", 200, "", ""},
		{"nginx: X-Original-URI absolute", nginx + "Host: {H0}\nX-Original-URI: http://{H0}/public/x\n", 403, "", ""},
		{"nginx: X-Original-URL twice", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/public/x\nX-Original-URL: http://{H0}/public/y\n", 403, "", ""},
		{"nginx: X-Original-Method twice", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/public/x\nX-Original-Method: GET\nX-Original-Method: POST\n", 403, "", ""},
		{"nginx: encoded slash", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/public%2Fsecret\n", 403, "", ""},
		{"nginx: encoded backslash", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/public%5csecret\n", 403, "", ""},
		{"nginx: encoded #", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/public%23x\n", 403, "", ""},
		{"nginx: raw #", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/public#x\n", 403, "", ""},
		{"nginx: user info", nginx + "Host: {H0}\nX-Original-URL: http://x@{H0}/public/x\n", 403, "", ""},
		{"nginx: not http", nginx + "Host: {H0}\nX-Original-URL: ftp://{H0}/public/x\n", 403, "", ""},
		{"nginx: bad escape", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/public/%zz\n", 403, "", ""},
		{"nginx: doubled slash", nginx + "Host: {H0}\nX-Original-URL: http://{H0}//x?a=1&b=2\n", 401, "", "http://{H0}/x?a=1&b=2"},
		{"nginx: dot segment", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/public/../secret\n", 401, "", "http://{H0}/secret"},
		{"nginx: the reserved prefix", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/outpost.goauthentik.io/start\n", 401, "", ""},
		{"nginx: a host no provider serves", nginx + "Host: evil.example\nX-Original-URL: http://evil.example/public/x\n", 403, "", ""},
		{"nginx: app1 at app1", nginx + "Host: {H1}\nX-Original-URL: http://{H1}/secret\nCookie: {C1}\n", 200, "alice", ""},
		{"traefik: app1's session at app0's URL", traefik + "Host: {H0}\nX-Forwarded-Host: {H0}\nX-Forwarded-Uri: /secret\nCookie: {C1}\n", 302, "", ""},
		{"traefik: app1's URL, Host names app0", traefik + "Host: {H0}\nX-Forwarded-Host: {H1}\nX-Forwarded-Uri: /secret\nCookie: {C1}\n", 400, "", ""},
		{"traefik: X-Forwarded-Host twice", traefik + "Host: outpost\nX-Forwarded-Host: {H0}\nX-Forwarded-Host: {H1}\nX-Forwarded-Uri: /secret\nCookie: {C1}\n", 400, "", ""},
		{"traefik: X-Forwarded-Uri twice", traefik + "Host: outpost\nX-Forwarded-Host: {H0}\nX-Forwarded-Uri: /secret\nX-Forwarded-Uri: /public/x\n", 400, "", ""},
		{"traefik: X-Forwarded-Uri absolute", traefik + "Host: outpost\nX-Forwarded-Host: {H0}\nX-Forwarded-Uri: http://{H0}/public/x\n", 400, "", ""},
		{"traefik: encoded slash", traefik + "Host: outpost\nX-Forwarded-Host: {H0}\nX-Forwarded-Uri: /public%2Fsecret\n", 400, "", ""},
		{"traefik: doubled slash", traefik + "Host: outpost\nX-Forwarded-Host: {H0}\nX-Forwarded-Uri: //x\n", 301, "", "http://{H0}/x"},
		{"traefik: the reserved prefix", traefik + "Host: outpost\nX-Forwarded-Host: {H0}\nX-Forwarded-Uri: /outpost.goauthentik.io/x\n", 302, "", ""},
		{"nginx: a sign-out marker in the original query is not served", nginx + "Host: {H0}\nX-Original-URL: http://{H0}/x?X-authentik-logout=true\nCookie: {C0}\n", 200, "alice", ""},
		{"caddy: skipped path", caddy + "Host: {H0}\nX-Forwarded-Host: {H0}\nX-Forwarded-Uri: /public/x\n", 200, "", ""},
		{"caddy: host with a path in it", caddy + "Host: {H0}\nX-Forwarded-Host: {H0}/public\nX-Forwarded-Uri: /x\n", 400, "", ""},
		{"envoy: app1's session at app0", envoy("/secret") + "Host: {H0}\nCookie: {C1}\n", 302, "", ""},
		{"envoy: app1's session at app1", envoy("/secret") + "Host: {H1}\nCookie: {C1}\n", 200, "alice", ""},
		{"envoy: X-Forwarded-Host app1, Host app0", envoy("/secret") + "Host: {H0}\nX-Forwarded-Host: {H1}\nCookie: {C1}\n", 400, "", ""},
		{"envoy: encoded slash", envoy("/public%2Fsecret") + "Host: {H0}\n", 400, "", ""},
		{"envoy: doubled slash", envoy("//x") + "Host: {H0}\n", 301, "", "http://{H0}/x"},
		{"envoy: dot segment", envoy("/public/../secret") + "Host: {H0}\n", 301, "", "http://{H0}/secret"},
		{"an endpoint in encoded letters is none", "GET /outpost.goauthentik.io/auth/ngin%78 HTTP/1.1\nHost: {H0}\nX-Original-URL: http://{H0}/public/x\n", 404, "", ""},
	} {
		t.Run(row.name, func(t *testing.T) {
			resp, body := rawRequest(t, outpost, e.expand(row.req+"\n", row.name))
			if resp.StatusCode != row.status {
				t.Errorf("status %d, want %d: %.200s", resp.StatusCode, row.status, body)
			}
			if got := resp.Header.Get("X-Authentik-Username"); got != row.user {
				t.Errorf("answered as %q, want %q", got, row.user)
			}
			if loc := e.expand(row.location, row.name); loc != "" && resp.Header.Get("Location") != loc {
				t.Errorf("Location %q, want %q", resp.Header.Get("Location"), loc)
			}
		})
	}
	e.noEvents(t)
}
