package proxy_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/session"
)

// setCookies records every Set-Cookie the outpost's host sends a browser.
type setCookies struct {
	base http.RoundTripper
	host string // the outpost's host:port
	mu   sync.Mutex
	seen []string
}

func (s *setCookies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(r)
	if err == nil && r.URL.Host == s.host {
		s.mu.Lock()
		s.seen = append(s.seen, resp.Header.Values("Set-Cookie")...)
		s.mu.Unlock()
	}
	return resp, err
}

func (s *setCookies) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// httpsBrowser is a browser that accepts the outpost's fallback
// certificate, reaches every name ending in suffix (if any) at 127.0.0.1,
// and records the Set-Cookie lines of the outpost's host.
func httpsBrowser(t *testing.T, outpostHost, suffix string) (*http.Client, *setCookies) {
	c := browser(t)
	d := &net.Dialer{Timeout: 5 * time.Second}
	rec := &setCookies{host: outpostHost, base: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the fallback certificate; the test reads cookies
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil && suffix != "" && strings.HasSuffix(host, suffix) {
				addr = "127.0.0.1:" + port
			}
			return d.DialContext(ctx, network, addr)
		}}}
	c.Transport = webtest.Navigating(rec)
	return c, rec
}

func jarCookie(c *http.Client, site, name string) *http.Cookie {
	u, _ := url.Parse(site)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// appCookieSecret is the stack's cookie_secret for app-client.
const appCookieSecret = "cookie-secret-0123456789abcdef"

// Over HTTPS a proxy-mode provider's cookies are __Host- cookies: Secure,
// Path=/, no Domain (cookie_domain is set and must not leak into them).
func TestHostPrefixedCookiesOverHTTPS(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", tls: true, cookieDomain: "example.test"})
	c, rec := httpsBrowser(t, strings.TrimPrefix(st.outpost, "https://"), "")
	resp := signIn(t, c, getPage(t, c, st.outpost+"/deep?x=1"), "alice", "alice-pw")
	body := readBody(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `upstream saw /deep?x=1 as "alice"`) {
		t.Fatalf("sign-in over HTTPS: %d %s", resp.StatusCode, body)
	}
	name := session.HostPrefix + session.CookieName("app-client")
	var login, sess bool
	for _, line := range rec.lines() {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		switch ck.Name {
		case name:
			sess = true
		case name + "_login":
			login = true
		default:
			t.Errorf("a cookie without the __Host- prefix: %q", line)
		}
		if !ck.Secure || ck.Path != "/" || ck.Domain != "" || strings.Contains(strings.ToLower(line), "domain=") {
			t.Errorf("a __Host- cookie needs Secure, Path=/ and no Domain: %q", line)
		}
	}
	if !sess || !login {
		t.Errorf("session cookie set: %t, login cookie set: %t; lines %q", sess, login, rec.lines())
	}
	if got := st.lastUpstream(t).Header.Get("Cookie"); strings.Contains(got, "authentik_proxy_") {
		t.Errorf("the app received the outpost's cookie: %q", got)
	}
}

// A cookie of the plain name is never read on a __Host- provider, even
// one whose value the outpost would have accepted under that name before
// the prefix (same cookie_secret): a sibling subdomain can set such a
// cookie for the parent domain, so reading it would let the sibling choose
// the session. The person is sent to sign in, the app gets nothing, and
// the sign-in clears the plain cookie.
func TestPlainCookieNotReadOnHostPrefixedProvider(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", tls: true})
	host := strings.TrimPrefix(st.outpost, "https://")
	attacker, _ := httpsBrowser(t, host, "")
	readBody(signIn(t, attacker, getPage(t, attacker, st.outpost+"/"), "mallory", "mallory-pw"))
	hostName := session.HostPrefix + session.CookieName("app-client")
	own := jarCookie(attacker, st.outpost, hostName)
	if own == nil {
		t.Fatal("mallory has no session cookie")
	}
	// mallory's session id, sealed as the plain-named cookie was.
	prefixed, err := session.NewCodec(session.CookieOptions{ClientID: "app-client", CookieSecret: appCookieSecret, Secure: true, HostOnly: true, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", st.outpost, nil)
	r.AddCookie(own)
	sid, err := prefixed.SessionID(r)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := session.NewCodec(session.CookieOptions{ClientID: "app-client", CookieSecret: appCookieSecret, Secure: true, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	planted, err := plain.Cookie(sid, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	victim, _ := httpsBrowser(t, host, "")
	u, _ := url.Parse(st.outpost)
	victim.Jar.SetCookies(u, []*http.Cookie{planted})
	before := st.upstreamCount()
	noFollow := &http.Client{Jar: victim.Jar, Transport: victim.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp := getPage(t, noFollow, st.outpost+"/whoami")
	readBody(resp)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), st.outpost+"/outpost.goauthentik.io/start?") {
		t.Fatalf("with only the planted plain cookie: %d %s, want a redirect to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := st.upstreamCount(); n != before {
		t.Fatalf("the app received %d requests for the planted cookie", n-before)
	}

	resp = signIn(t, victim, getPage(t, victim, st.outpost+"/whoami"), "alice", "alice-pw")
	if body := readBody(resp); !strings.Contains(body, `as "alice"`) {
		t.Fatalf("victim after sign-in: %s", body)
	}
	if got := st.lastUpstream(t).Header.Get("Cookie"); strings.Contains(got, "authentik_proxy_") {
		t.Errorf("the app received an outpost cookie: %q", got)
	}
	if jarCookie(victim, st.outpost, planted.Name) != nil {
		t.Error("the sign-in left the plain cookie in the browser")
	}
}

// forward_domain keeps its Domain cookie (it must reach every app under
// cookie_domain), without the prefix, Secure over HTTPS.
func TestForwardDomainKeepsDomainCookieOverHTTPS(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", tls: true,
		mode: "forward_domain", trusted: true, externalHostname: "auth.example.test", cookieDomain: "example.test"})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(st.outpost, "https://"))
	c, rec := httpsBrowser(t, "auth.example.test:"+port, "example.test")
	resp := getPage(t, c, "https://auth.example.test:"+port+"/outpost.goauthentik.io/start?rd="+url.QueryEscape("https://app1.example.test:"+port+"/dash"))
	readBody(signIn(t, c, resp, "alice", "alice-pw"))
	name := session.CookieName("app-client")
	var sess bool
	for _, line := range rec.lines() {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if strings.HasPrefix(ck.Name, session.HostPrefix) || ck.Domain != "example.test" || !ck.Secure {
			t.Errorf("forward_domain cookie: %q, want the plain name, Domain=example.test, Secure", line)
		}
		sess = sess || ck.Name == name
	}
	if !sess {
		t.Fatalf("no session cookie %s among %q", name, rec.lines())
	}
	if jarCookie(c, "https://app2.example.test:"+port+"/", name) == nil {
		t.Error("the browser would not send the session cookie to another app under the cookie domain")
	}
}

// Over plain HTTP browsers refuse __Host- cookies: the plain name stays.
func TestPlainNameOverHTTP(t *testing.T) {
	st := newStack(t)
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"))
	if jarCookie(c, st.outpost, session.CookieName("app-client")) == nil {
		t.Errorf("no plain-named session cookie over HTTP; the browser has %v", c.Jar.Cookies(mustURL(st.outpost)))
	}
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

// forward_single behind real nginx over HTTPS, with the shipped snippets:
// the outpost's __Host- cookies reach the browser through nginx as the
// app's host's own (Secure, Path=/, no Domain), the session works across
// requests, a planted plain-named cookie is not read, and sign-out through
// nginx clears the cookie.
func TestHostPrefixedCookiesThroughNginx(t *testing.T) {
	nginxLn := reserve(t)
	nginxAddr := nginxLn.Addr().String()
	nginxLn.Close() // nginx binds it itself
	app, lastSeen := helloApp(t)
	dir := t.TempDir()
	kp := newTestKeyPair(t, "nginx", "localhost")
	cert, key := filepath.Join(dir, "site.crt"), filepath.Join(dir, "site.key")
	if err := os.WriteFile(cert, []byte(kp.certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte(kp.keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
		mode: "forward_single", trusted: true, external: "https://" + nginxAddr})
	runNginxServers(t, nginxAddr, strings.TrimPrefix(st.outpost, "http://"), "../deploy/nginx", nginxServer{app: app.URL, cert: cert, key: key})
	site := "https://" + nginxAddr

	c, rec := httpsBrowser(t, nginxAddr, "")
	resp := signIn(t, c, getPage(t, c, site+"/reports"), "alice", "alice-pw")
	if body := readBody(resp); resp.StatusCode != 200 || body != `app says hello to "alice"` {
		t.Fatalf("sign-in through nginx over HTTPS: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	name := session.HostPrefix + session.CookieName("app-client")
	for _, line := range rec.lines() {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if !strings.HasPrefix(ck.Name, session.HostPrefix) || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("through nginx: %q, want a __Host- cookie with Secure, Path=/ and no Domain", line)
		}
	}
	if jarCookie(c, site, name) == nil {
		t.Fatalf("the browser kept no %s; Set-Cookie lines %q", name, rec.lines())
	}
	if body := readBody(getPage(t, c, site+"/again")); body != `app says hello to "alice"` {
		t.Errorf("second request: %s", body)
	}

	// The plain name, valid under the same secret, is not read through nginx.
	plain, err := session.NewCodec(session.CookieOptions{ClientID: "app-client", CookieSecret: appCookieSecret, Secure: true, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	prefixed, _ := session.NewCodec(session.CookieOptions{ClientID: "app-client", CookieSecret: appCookieSecret, Secure: true, HostOnly: true, MaxAge: time.Hour})
	r, _ := http.NewRequest("GET", site, nil)
	r.AddCookie(jarCookie(c, site, name))
	sid, err := prefixed.SessionID(r)
	if err != nil {
		t.Fatal(err)
	}
	planted, _ := plain.Cookie(sid, time.Hour)
	other, _ := httpsBrowser(t, nginxAddr, "")
	other.Jar.SetCookies(mustURL(site), []*http.Cookie{planted})
	seenBefore := lastSeen()
	resp = getPage(t, other, site+"/reports")
	readBody(resp)
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") {
		t.Errorf("with a plain-named cookie: %d at %s, want the sign-in", resp.StatusCode, resp.Request.URL)
	}
	if lastSeen() != seenBefore {
		t.Error("the app got the request of the plain-named cookie")
	}

	readBody(getPage(t, c, site+"/outpost.goauthentik.io/sign_out"))
	if jarCookie(c, site, name) != nil {
		t.Error("sign-out through nginx left the session cookie in the browser")
	}
	resp = getPage(t, c, site+"/reports")
	readBody(resp)
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") {
		t.Errorf("after sign-out: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}
