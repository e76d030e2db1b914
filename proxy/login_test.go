package proxy_test

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/outpost-dev/outpost/internal/devcore"
	"github.com/outpost-dev/outpost/internal/webtest"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/crypto/bcrypt"
)

// stack is a devcore, an upstream that records what it receives, and an
// outpost fed by the real core source, all on 127.0.0.1.
type stack struct {
	outpost string // http://127.0.0.1:port, also the provider's external host
	core    string // a counting reverse proxy in front of the devcore
	token   string
	// refreshGrants counts refresh_token grants as the core received them.
	refreshGrants atomic.Int32
	// introspections counts token introspection calls.
	introspections atomic.Int32
	// browserCore is the core's browser-facing URL when browserHost is set.
	browserCore string
	// tokenHosts are the Host headers the core saw on token requests.
	tokenHosts []string
	// coreTraces are "path traceparent" of every core request that carried one.
	coreTraces []string
	store      session.Store
	mu         sync.Mutex
	upstream   []*http.Request
	// server is the outpost's data plane, for tests that call it directly.
	server *proxy.Server
	// upstreamURL is the app's address (the provider's internal_host).
	upstreamURL string
	// appB is the host of the second app (stackOptions.secondApp).
	appB string
	// replicaAddr is the second data plane's host:port
	// (stackOptions.replicaStore); reach it with onReplica.
	replicaAddr string
}

// onReplica is a client with c's cookies whose every connection goes to
// the second replica (the outpost's host name unchanged, as behind a load
// balancer). It does not follow redirects.
func (s *stack) onReplica(c *http.Client) *http.Client {
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, s.replicaAddr)
	}}
	return &http.Client{Jar: c.Jar, Timeout: 20 * time.Second, Transport: webtest.Navigating(tr),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (s *stack) lastUpstream(t *testing.T) *http.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.upstream) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	return s.upstream[len(s.upstream)-1]
}

func (s *stack) upstreamCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.upstream)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func hash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// stackOptions vary the provider the devcore serves.
type stackOptions struct {
	validity int    // access_token_validity, seconds
	scopes   string // scopes_to_request, YAML flow list
	// browserHost, when set, is AUTHENTIK_HOST_BROWSER: the core's name for
	// browsers ("localhost:port" of the same core), while the outpost
	// reaches it at 127.0.0.1.
	browserHost bool
	// maxWebsockets is the per-client websocket cap (0: the default).
	maxWebsockets int
	// mode is the provider's mode (default proxy); trusted makes 127.0.0.0/8
	// a trusted proxy.
	mode    string
	trusted bool
	// external overrides the provider's external host (default: the
	// outpost's own address), e.g. for a reverse proxy in front.
	external string
	// externalHostname serves the outpost's own port under this name.
	externalHostname string
	cookieDomain     string
	// log and metrics, when set, receive the outpost's log and metrics.
	log     *slog.Logger
	metrics *metrics.Proxy
	// store keeps the sessions (default: a fresh memory store); the stack
	// closes it.
	store session.Store
	// upstream overrides the app's internal_host (default: a recorder).
	upstream string
	// secondApp adds provider app-b (client app-b-client) at
	// http://app-b.localhost:<outpost port>, same upstream, with
	// intercept_header_auth off.
	secondApp bool
	// secondHost, when set, is app-b's external host (host:port) instead,
	// e.g. a second server block of a reverse proxy in front. app-b has
	// the same mode as app.
	secondHost string
	// credentialTTL is the outpost's credential cache window (0: 60 s).
	credentialTTL time.Duration
	// aliceAttributes is alice's attributes at the core (YAML flow map).
	aliceAttributes string
	// bodyIdle is OUTPOST_LISTEN__BODY_IDLE_TIMEOUT (0: the default).
	bodyIdle time.Duration
	// additionalHeaders is OUTPOST_AUTH__ADDITIONAL_HEADERS.
	additionalHeaders []string
	// tls serves the outpost over HTTPS (the fallback certificate) and
	// makes the external host https.
	tls bool
	// allowedUpgrades is OUTPOST_PROXY__ALLOWED_UPGRADES (nil: the default).
	allowedUpgrades []string
	// basicAuth makes app inject Basic credentials: user name from the
	// user's basic_user attribute, password from basic_password.
	basicAuth bool
	// refreshHook, when set, sees every refresh grant on its way to the
	// core and may change its form (the core answers the changed one),
	// answer it itself with status (the core never sees it), or hold the
	// core's answer for hold.
	refreshHook func(form url.Values) (status int, hold time.Duration)
	// replicaStore, when set, runs a second data plane (stack.replica) on
	// this store, fed the same configuration: another replica.
	replicaStore session.Store
	// assertion, when set, are the identity assertion's settings.
	assertion *proxy.AssertionOptions
	// tracer, when set, traces the outpost's requests (tracing_test.go).
	tracer trace.Tracer
}

// holdKey carries refreshHook's hold from the request to its response.
type holdKey struct{}

func newStack(t *testing.T) *stack {
	return newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, entitlements, ak_proxy]"})
}

func newStackWith(t *testing.T, o stackOptions) *stack {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st := &stack{token: "outpost-token-0123456789"}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.mu.Lock()
		st.upstream = append(st.upstream, r.Clone(context.Background()))
		st.mu.Unlock()
		if websocket.IsWebSocketUpgrade(r) {
			echoAs(w, r, r.Header.Get("X-Authentik-Username"))
			return
		}
		fmt.Fprintf(w, "upstream saw %s as %q", r.URL.RequestURI(), r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(up.Close)
	st.upstreamURL = up.URL

	outLn, coreLn, counterLn := listen(t), listen(t), listen(t)
	scheme := "http"
	if o.tls {
		scheme = "https"
	}
	st.outpost, st.core = scheme+"://"+outLn.Addr().String(), "http://"+counterLn.Addr().String()
	// Everything reaches the devcore through this proxy, which keeps the
	// Host (so the core's URLs and issuer name the proxy) and counts the
	// refresh grants the core receives.
	coreURL, _ := url.Parse("http://" + coreLn.Addr().String())
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(coreURL)
		pr.Out.Host = pr.In.Host
		if pr.In.URL.Path == "/application/o/introspect/" {
			st.introspections.Add(1)
		}
	}, ModifyResponse: func(resp *http.Response) error {
		if hold, _ := resp.Request.Context().Value(holdKey{}).(time.Duration); hold > 0 {
			time.Sleep(hold) // the core has answered; its answer is late
		}
		return nil
	}}
	counter := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tp := r.Header.Get("Traceparent"); tp != "" {
			st.mu.Lock()
			st.coreTraces = append(st.coreTraces, r.URL.Path+" "+tp)
			st.mu.Unlock()
		}
		if r.Method == http.MethodPost && r.URL.Path == "/application/o/token/" {
			st.mu.Lock()
			st.tokenHosts = append(st.tokenHosts, r.Host+" "+r.Header.Get("X-Forwarded-Proto"))
			st.mu.Unlock()
			body, _ := io.ReadAll(r.Body)
			if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "refresh_token" {
				st.refreshGrants.Add(1)
				if o.refreshHook != nil {
					status, hold := o.refreshHook(form)
					if status != 0 {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(status)
						fmt.Fprint(w, `{"error":"temporarily_unavailable"}`)
						return
					}
					body = []byte(form.Encode())
					r = r.WithContext(context.WithValue(r.Context(), holdKey{}, hold))
				}
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			r.ContentLength = int64(len(body))
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = counter.Serve(counterLn) }()
	t.Cleanup(func() { _ = counter.Close() })
	external := cmp.Or(o.external, st.outpost)
	if o.externalHostname != "" {
		_, port, _ := net.SplitHostPort(outLn.Addr().String())
		external = scheme + "://" + o.externalHostname + ":" + port
	}
	var second struct{ ref, provider string }
	if o.secondApp {
		_, port, _ := net.SplitHostPort(outLn.Addr().String())
		st.appB = cmp.Or(o.secondHost, "app-b.localhost:"+port)
		second.ref = ", app-b"
		second.provider = fmt.Sprintf(`  - name: app-b
    external_host: http://%s
    internal_host: %s
    client_id: app-b-client
    client_secret: app-b-client-secret-0123456789abcdef0123456789
    cookie_secret: cookie-secret-b-0123456789abcdef
    access_token_validity: %d
    intercept_header_auth: false
    mode: %s
    skip_path_regex: |
      ^/public/
`, st.appB, up.URL, o.validity, cmp.Or(o.mode, "proxy"))
	}
	cfg, err := devcore.ParseConfig([]byte(fmt.Sprintf(`
outposts:
  - pk: 0b7c8a52-3c55-4e0b-9a43-6c1f1d1e2f30
    name: test-outpost
    token: %s
    config: {authentik_host: %s}
    providers: [app%s]
providers:
  - name: app
    external_host: %s
    internal_host: %s
    client_id: app-client
    client_secret: app-client-secret-0123456789abcdef0123456789
    cookie_secret: cookie-secret-0123456789abcdef
    mode: %s
    cookie_domain: "%s"
    access_token_validity: %d
    scopes_to_request: %s
    skip_path_regex: |
      ^/public/
%s%sgroups:
  - name: ops
users:
  - username: alice
    password_hash: "%s"
    email: alice@example.com
    name: Alice
    groups: [ops]
    app_passwords: ["%s"]
    attributes: %s
  - username: mallory
    password_hash: "%s"
    email: mallory@example.com
`, st.token, st.core, second.ref, external, cmp.Or(o.upstream, up.URL), cmp.Or(o.mode, "proxy"), o.cookieDomain, o.validity, o.scopes,
		basicAuthFields(o.basicAuth), second.provider, hash(t, "alice-pw"), hash(t, "alice-app-pw"), cmp.Or(o.aliceAttributes, "{}"), hash(t, "mallory-pw"))))
	if err != nil {
		t.Fatal(err)
	}
	core, err := devcore.New(cfg, devcore.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	coreDone := make(chan error, 1)
	go func() { coreDone <- core.Serve(ctx, coreLn) }()

	hostURL, err := url.Parse(st.core + "/")
	if err != nil {
		t.Fatal(err)
	}
	coreAt := outpostapi.CoreEndpoint{Host: hostURL, Token: st.token}
	events := outpostapi.NewClient(coreAt, "0.1.0", "")
	st.store = o.store
	if st.store == nil {
		st.store = session.NewMemoryStore(session.MemoryOptions{})
	}
	popts := proxy.Options{Log: cmp.Or(o.log, log), Metrics: o.metrics, CredentialCacheTTL: o.credentialTTL, Store: st.store, Version: "0.1.0", MaxWebsocketsPerClient: o.maxWebsockets,
		AdditionalHeaders: o.additionalHeaders, AllowedUpgrades: o.allowedUpgrades, Tracer: o.tracer,
		Events: func(ctx context.Context, ev outpostapi.Event) { _ = events.PostEvent(ctx, ev) }}
	if o.assertion != nil {
		popts.Assertion = *o.assertion
	}
	if o.trusted {
		popts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	if o.browserHost {
		_, port, _ := net.SplitHostPort(counterLn.Addr().String())
		st.browserCore = "http://localhost:" + port
		popts.BrowserURL, _ = url.Parse(st.browserCore + "/")
	}
	srv := proxy.New(popts)
	st.server = srv
	front := proxy.NewHTTPServerWith(srv, cmp.Or(o.bodyIdle, proxy.DefaultBodyIdleTimeout))
	if o.tls {
		certs := proxy.NewCertificates(srv.Snapshot, fallbackCert(t), log)
		outLn = tls.NewListener(outLn, proxy.TLSConfig(certs.GetCertificate))
	}
	go func() { _ = front.Serve(outLn) }()
	servers := []*proxy.Server{srv}
	if o.replicaStore != nil {
		ropts := popts
		ropts.Store = o.replicaStore
		replica := proxy.New(ropts)
		servers = append(servers, replica)
		rln := listen(t)
		st.replicaAddr = rln.Addr().String()
		rfront := proxy.NewHTTPServer(replica)
		go func() { _ = rfront.Serve(rln) }()
		t.Cleanup(func() { _ = rfront.Close(); _ = o.replicaStore.Close() })
	}

	ready := make(chan struct{})
	var once sync.Once
	srcDone := make(chan error, 1)
	go func() {
		srcDone <- outpostapi.NewCoreSource(coreAt, outpostapi.CoreOptions{Logger: log, Version: "0.1.0"}).Run(ctx, outpostapi.Handlers{
			OnSnapshot: func(s *outpostapi.Snapshot) {
				for _, srv := range servers {
					if failed := srv.Update(s); len(failed) > 0 {
						t.Errorf("providers left out: %v", failed)
					}
				}
				once.Do(func() { close(ready) })
			},
			OnSessionEnd: func(e outpostapi.SessionEnd) { _, _ = st.store.DeleteBySID(context.Background(), e.SessionID) },
		})
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("no configuration from the devcore")
	}
	t.Cleanup(func() {
		cancel()
		<-srcDone
		<-coreDone
		_ = front.Close()
		_ = st.store.Close()
	})
	return st
}

// basicAuthFields are app's basic-auth settings when on is set.
func basicAuthFields(on bool) string {
	if !on {
		return ""
	}
	return "    basic_auth_enabled: true\n    basic_auth_user_attribute: basic_user\n    basic_auth_password_attribute: basic_password\n"
}

func browser(t *testing.T) *http.Client { return webtest.Browser(t) }

// signIn fills the devcore login form shown in resp.
func signIn(t *testing.T, c *http.Client, resp *http.Response, user, password string) *http.Response {
	t.Helper()
	return webtest.SignIn(t, c, resp, user, password)
}

func getPage(t *testing.T, c *http.Client, u string, header ...string) *http.Response {
	t.Helper()
	return webtest.Get(t, c, u, header...)
}

func readBody(resp *http.Response) string { return webtest.ReadBody(resp) }

func sessionCookie(t *testing.T, c *http.Client, site string) *http.Cookie {
	u, _ := url.Parse(site)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == session.CookieName("app-client") {
			return ck
		}
	}
	return nil
}

func TestLoginSignOutAndReplay(t *testing.T) {
	st := newStack(t)
	c := browser(t)

	// A person asks for a deep link with a query; they are sent to sign in,
	// and land on exactly that URL afterwards.
	resp := getPage(t, c, st.outpost+"/graph?g0.expr=up&g0.tab=1", "X-Authentik-Username", "admin", "x_authentik_groups", "admins")
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") {
		t.Fatalf("not sent to the core's authorize endpoint: %s", resp.Request.URL)
	}
	q := resp.Request.URL.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Errorf("authorize request lacks PKCE, nonce or state: %s", resp.Request.URL.RawQuery)
	}
	if q.Get("redirect_uri") != st.outpost+"/outpost.goauthentik.io/callback?X-authentik-auth-callback=true" {
		t.Errorf("redirect_uri = %q", q.Get("redirect_uri"))
	}
	resp = signIn(t, c, resp, "alice", "alice-pw")
	body := readBody(resp)
	if resp.StatusCode != 200 || resp.Request.URL.String() != st.outpost+"/graph?g0.expr=up&g0.tab=1" {
		t.Fatalf("after login: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	up := st.lastUpstream(t)
	if up.Header.Get("X-Authentik-Username") != "alice" || up.Header.Get("X-Authentik-Email") != "alice@example.com" ||
		up.Header.Get("X-Authentik-Groups") != "ops" || up.Header.Get("X-Authentik-Meta-Provider") != "app" ||
		up.Header.Get("X-Authentik-Meta-Outpost") != "test-outpost" || up.Header.Get("X-Authentik-Jwt") == "" {
		t.Errorf("identity headers upstream: %v", up.Header)
	}
	// The client's own spoofing attempt went nowhere (the first request was
	// redirected; send it again signed in).
	resp = getPage(t, c, st.outpost+"/api", "X-Authentik-Username", "admin", "Cookie", "app_pref=dark")
	readBody(resp)
	up = st.lastUpstream(t)
	if got := up.Header.Values("X-Authentik-Username"); len(got) != 1 || got[0] != "alice" {
		t.Errorf("spoofed username reached the upstream: %v", got)
	}
	if strings.Contains(up.Header.Get("Cookie"), "authentik_proxy_") {
		t.Errorf("the outpost's session cookie reached the upstream: %q", up.Header.Get("Cookie"))
	}
	stolen := sessionCookie(t, c, st.outpost)
	if stolen == nil {
		t.Fatal("no session cookie after login")
	}
	if !stolen.HttpOnly && stolen.Value == "" {
		t.Error("session cookie unusable")
	}
	// Blanks around the name still make it the session cookie to Go's
	// parser, so such a cookie must not reach the app either; the app's
	// own cookies pass in order.
	spaced, _ := http.NewRequest("GET", st.outpost+"/api", nil)
	spaced.Header.Set("Cookie", "app_pref=dark; "+stolen.Name+" ="+stolen.Value+" ;x=1")
	if resp, err := http.DefaultTransport.RoundTrip(spaced); err != nil || resp.StatusCode != 200 {
		t.Fatalf("signed-in request with a spaced cookie: %v %v", resp, err)
	} else {
		readBody(resp)
	}
	up = st.lastUpstream(t)
	if got := up.Header.Values("Cookie"); len(got) != 1 || got[0] != "app_pref=dark; x=1" || up.Header.Get("X-Authentik-Username") != "alice" {
		t.Errorf("upstream got Cookie %q as %q", got, up.Header.Get("X-Authentik-Username"))
	}

	// Sign-out ends the session and hands over to the core's end-session.
	resp = getPage(t, c, st.outpost+"/outpost.goauthentik.io/sign_out")
	readBody(resp)
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/app/end-session/") {
		t.Errorf("sign-out ended at %s", resp.Request.URL)
	}
	// Replaying the old cookie no longer reaches the app.
	before := st.upstreamCount()
	replay := &http.Client{Transport: webtest.Navigating(nil), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", st.outpost+"/graph", nil)
	req.AddCookie(&http.Cookie{Name: stolen.Name, Value: stolen.Value})
	r2, err := replay.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(r2)
	if r2.StatusCode != http.StatusFound || !strings.Contains(r2.Header.Get("Location"), "/outpost.goauthentik.io/start") || st.upstreamCount() != before {
		t.Errorf("replayed cookie after sign-out: %d %s", r2.StatusCode, r2.Header.Get("Location"))
	}
}

// The core ends alice's session (admin action); the outpost hears
// SESSION_END over the websocket and her cookie stops working.
func TestSessionEndFromCoreRevokes(t *testing.T) {
	st := newStack(t)
	c := browser(t)
	resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw")
	if readBody(resp); resp.StatusCode != 200 || st.upstreamCount() != 1 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", st.core+"/api/devcore/users/alice/end-sessions", nil)
	req.Header.Set("Authorization", "Bearer "+st.token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := readBody(r); r.StatusCode != 200 || !strings.Contains(b, `"ended":1`) {
		t.Fatalf("end-sessions: %d %s", r.StatusCode, b)
	}
	noFollow := &http.Client{Jar: c.Jar, Transport: webtest.Navigating(nil), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := noFollow.Get(st.outpost + "/")
		if err != nil {
			t.Fatal(err)
		}
		readBody(r)
		if r.StatusCode == http.StatusFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session still served %d after SESSION_END", r.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSkipPathAndAPIClients(t *testing.T) {
	st := newStack(t)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", st.outpost+"/public/status", nil)
	req.Header.Set("X-Authentik-Username", "admin")
	req.Header["X_Authentik_Uid"] = []string{"0"}
	r, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(r)
	if r.StatusCode != 200 {
		t.Fatalf("skipped path: %d", r.StatusCode)
	}
	up := st.lastUpstream(t)
	for name := range up.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-authentik") || strings.Contains(name, "_") {
			t.Errorf("client identity header %s reached the upstream on a skipped path", name)
		}
	}
	for _, h := range [][2]string{{"Accept", "application/json"}, {"X-Requested-With", "XMLHttpRequest"}, {"Authorization", "Bearer nope"}} {
		t.Run(h[0], func(t *testing.T) {
			req, _ := http.NewRequest("GET", st.outpost+"/api/v1/query", nil)
			req.Header.Set(h[0], h[1])
			r, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(r)
			if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer realm=") {
				t.Errorf("%s: %d %q", h[0], r.StatusCode, r.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// A cookie planted before login (session fixation) is never adopted: the
// person's login gets a session id of its own.
func TestPlantedCookieNotAdopted(t *testing.T) {
	st := newStack(t)
	attacker := browser(t)
	readBody(signIn(t, attacker, getPage(t, attacker, st.outpost+"/"), "mallory", "mallory-pw"))
	planted := sessionCookie(t, attacker, st.outpost)
	if planted == nil {
		t.Fatal("attacker has no session")
	}

	victim := browser(t)
	u, _ := url.Parse(st.outpost)
	victim.Jar.SetCookies(u, []*http.Cookie{{Name: planted.Name, Value: planted.Value, Path: "/"}})
	// With the planted cookie the victim is mallory; signing in as herself
	// must give a fresh session, not bind alice to the planted one.
	resp := getPage(t, victim, st.outpost+"/outpost.goauthentik.io/start")
	resp = signIn(t, victim, resp, "alice", "alice-pw")
	readBody(resp)
	own := sessionCookie(t, victim, st.outpost)
	if own == nil || own.Value == planted.Value {
		t.Fatal("victim kept the planted session cookie")
	}
	readBody(getPage(t, victim, st.outpost+"/whoami"))
	if got := st.lastUpstream(t).Header.Get("X-Authentik-Username"); got != "alice" {
		t.Errorf("victim is %q upstream", got)
	}
	readBody(getPage(t, attacker, st.outpost+"/whoami"))
	if got := st.lastUpstream(t).Header.Get("X-Authentik-Username"); got != "mallory" {
		t.Errorf("attacker is %q upstream", got)
	}
}

// A callback whose login attempt cookie is gone (another browser, a cleared
// cookie) restarts the login once instead of a bare 400; a forged state is
// refused with a page.
func TestCallbackWithoutAttemptRestartsOnce(t *testing.T) {
	st := newStack(t)
	c := browser(t)
	resp := getPage(t, c, st.outpost+"/deep?x=1")
	readBody(resp)
	state := resp.Request.URL.Query().Get("state")

	other := browser(t)
	resp = getPage(t, other, st.outpost+"/outpost.goauthentik.io/callback?X-authentik-auth-callback=true&code=abc&state="+url.QueryEscape(state))
	body := readBody(resp)
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") || !strings.Contains(body, "password") {
		t.Errorf("stale callback did not restart the login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp = getPage(t, other, st.outpost+"/outpost.goauthentik.io/callback?X-authentik-auth-callback=true&code=abc&state=forged")
	body = readBody(resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Sign-in failed") || !strings.Contains(body, "Request ") {
		t.Errorf("forged state: %d %s", resp.StatusCode, body)
	}
}

// Fifty requests arriving together inside the refresh window redeem the
// refresh token once, and every one of them is served.
func TestParallelRequestsRefreshOnce(t *testing.T) {
	t.Parallel()
	const validity = 40 // seconds: the refresh window is the last quarter, 10 s
	st := newStackWith(t, stackOptions{validity: validity, scopes: "[openid, email, profile, ak_proxy, offline_access]"})
	c := browser(t)
	resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw")
	if readBody(resp); resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	loggedIn := time.Now()
	readBody(getPage(t, c, st.outpost+"/early"))
	if n := st.refreshGrants.Load(); n != 0 {
		t.Fatalf("%d refreshes before the window", n)
	}
	old := sessionCookie(t, c, st.outpost)

	// 32 s after login at least 7 s are left: inside the window, not expired.
	time.Sleep(time.Until(loggedIn.Add(32 * time.Second)))
	var wg sync.WaitGroup
	statuses := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := getPage(t, c, st.outpost+"/parallel")
			body := readBody(resp)
			statuses <- fmt.Sprint(resp.StatusCode, " ", body)
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != `200 upstream saw /parallel as "alice"` {
			t.Errorf("a parallel request got %q", s)
		}
	}
	if n := st.refreshGrants.Load(); n != 1 {
		t.Errorf("the core saw %d refresh grants, want exactly 1", n)
	}
	if cur := sessionCookie(t, c, st.outpost); cur == nil || cur.Value == old.Value {
		t.Error("the session cookie was not renewed with the refreshed session")
	}
	// The refreshed token is fresh: the next request does not refresh again.
	readBody(getPage(t, c, st.outpost+"/after"))
	if n := st.refreshGrants.Load(); n != 1 {
		t.Errorf("refresh grants after the window: %d", n)
	}
}

// Dot segments and doubled slashes must not slip a protected path past a
// skip rule: the outpost decides on the path the upstream will act on.
func TestSkipPathTraversal(t *testing.T) {
	st := newStack(t)
	for _, p := range []string{
		"/public/../admin", "/public/%2e%2e/admin", "/public/./../admin", "/public//../admin", "/public/..%2Fadmin",
		"/public%2F..%2Fadmin", "/public/%2e%2e%2fadmin", "/public/..%5Cadmin", "/public\\..\\admin", "/public/..;/admin",
		"/public/x;/../../admin", "/admin;/public/", "/admin%23/public/", "/public/%00/../admin", "//public/../admin",
		"/public/.%2e/admin", "/public/%2E%2E/admin", "/PUBLIC/../admin",
	} {
		t.Run(p, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(st.outpost, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			// A raw request line: clients would clean the path themselves.
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/html\r\nConnection: close\r\n\r\n", p, strings.TrimPrefix(st.outpost, "http://"))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			readBody(resp)
			conn.Close()
			for _, r := range st.upstreamSnapshot() {
				if strings.Contains(r.URL.RawPath+r.URL.Path, "admin") {
					t.Fatalf("%s reached the upstream unauthenticated as %q", p, r.URL.RequestURI())
				}
			}
			if resp.StatusCode != http.StatusMovedPermanently && resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d", p, resp.StatusCode)
			}
			t.Logf("%-28s → %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
			if resp.StatusCode == http.StatusMovedPermanently && resp.Header.Get("Location") != "/admin" {
				t.Errorf("%s: redirected to %q", p, resp.Header.Get("Location"))
			}
		})
	}
}

func (s *stack) upstreamSnapshot() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.upstream...)
}

// With AUTHENTIK_HOST_BROWSER (spec §7.2) browsers go to the core under its
// browser name, the outpost still reaches it at AUTHENTIK_HOST, and the token
// request carries the browser Host so the core names the issuer the outpost
// verifies.
func TestHostBrowserRewriting(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", browserHost: true})
	c := browser(t)
	resp := getPage(t, c, st.outpost+"/x")
	if !strings.HasPrefix(resp.Request.URL.String(), st.browserCore+"/application/o/authorize/") {
		t.Fatalf("authorize not on the browser host: %s", resp.Request.URL)
	}
	resp = signIn(t, c, resp, "alice", "alice-pw")
	if body := readBody(resp); resp.StatusCode != 200 || !strings.Contains(body, `as "alice"`) {
		t.Fatalf("login through the browser host: %d %s", resp.StatusCode, body)
	}
	st.mu.Lock()
	hosts := append([]string(nil), st.tokenHosts...)
	st.mu.Unlock()
	if len(hosts) != 1 || hosts[0] != strings.TrimPrefix(st.browserCore, "http://")+" http" {
		t.Errorf("token requests reached the core as %q, want the browser host with X-Forwarded-Proto http", hosts)
	}
	out := getPage(t, c, st.outpost+"/outpost.goauthentik.io/sign_out")
	readBody(out)
	if !strings.HasPrefix(out.Request.URL.String(), st.browserCore+"/application/o/app/end-session/") {
		t.Errorf("sign-out not sent to end-session on the browser host: %s", out.Request.URL)
	}
}

func TestStaticPrefixNeverProxied(t *testing.T) {
	st := newStack(t)
	for _, p := range []string{"/outpost.goauthentik.io/static/dist/x.css", "/outpost.goauthentik.io/static"} {
		t.Run(p, func(t *testing.T) {
			resp, err := http.Get(st.outpost + p)
			if err != nil {
				t.Fatal(err)
			}
			readBody(resp)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %d", p, resp.StatusCode)
			}
		})
	}
	if st.upstreamCount() != 0 {
		t.Error("a static path reached the upstream")
	}
	// And the skip rule itself still works, parameters and all.
	for _, p := range []string{"/public/status", "/public/a;v=1/b"} {
		t.Run(p, func(t *testing.T) {
			resp, err := http.Get(st.outpost + p)
			if err != nil {
				t.Fatal(err)
			}
			readBody(resp)
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d, want the skipped path served", p, resp.StatusCode)
			}
		})
	}
}

// echoAs echoes websocket messages, prefixed with who the upstream was told
// the user is.
func echoAs(w http.ResponseWriter, r *http.Request, user string) {
	c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		mt, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		_ = c.WriteMessage(mt, []byte(user+": "+string(msg)))
	}
}

// A websocket opened with a session reaches the app with the identity; one
// without a session does not get through.
func TestWebsocketThroughSession(t *testing.T) {
	st := newStack(t)
	c := browser(t)
	if resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"); readBody(resp) == "" || resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	wsURL := "ws" + strings.TrimPrefix(st.outpost, "http") + "/api/live"
	dialer := websocket.Dialer{Jar: c.Jar, HandshakeTimeout: 5 * time.Second}
	conn, _, err := dialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("websocket with a session: %v", err)
	}
	defer conn.Close()
	for i := range 3 {
		if err := conn.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint("tick ", i))); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := conn.ReadMessage()
		if err != nil || string(msg) != fmt.Sprint("alice: tick ", i) {
			t.Fatalf("echo %d: %q %v", i, msg, err)
		}
	}
	before := st.upstreamCount()
	_, resp, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(wsURL, nil)
	// A websocket cannot follow a sign-in redirect: it gets the 401.
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized || st.upstreamCount() != before {
		t.Errorf("websocket without a session: err=%v resp=%v", err, resp)
	}
}

// Cookie garbage on every endpoint: never a pass, never a 5xx.
func TestCookieGarbageEverywhere(t *testing.T) {
	st := newStack(t)
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"))
	good := sessionCookie(t, c, st.outpost)
	// Another outpost with the same provider: its cookie decodes here but
	// names a session this outpost never had.
	other := newStack(t)
	oc := browser(t)
	readBody(signIn(t, oc, getPage(t, oc, other.outpost+"/"), "alice", "alice-pw"))
	foreign := sessionCookie(t, oc, other.outpost)
	if good == nil || foreign == nil {
		t.Fatal("no session cookies to mangle")
	}
	name := good.Name
	values := map[string]string{
		"empty":     "",
		"garbage":   "not-a-cookie",
		"truncated": good.Value[:len(good.Value)/2],
		"flipped":   good.Value[:10] + string(rune(good.Value[10]^1)) + good.Value[11:],
		"oversized": strings.Repeat("A", 6000),
		"pipes":     "a|b|c|d",
		"foreign":   foreign.Value,
		"base64":    "MTIzNDU2Nzg5MHx8fHx8",
		"unicode":   "%C3%A9%00%FF",
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for vname, v := range values {
		t.Run(vname, func(t *testing.T) {
			for _, path := range []string{"/", "/graph", "/outpost.goauthentik.io/start", "/outpost.goauthentik.io/callback?state=x&code=y",
				"/outpost.goauthentik.io/sign_out", "/public/x", "/outpost.goauthentik.io/ping", "/?X-authentik-logout=true"} {
				before := st.upstreamCount()
				req, _ := http.NewRequest("GET", st.outpost+path, nil)
				req.Header.Set("Cookie", name+"="+v)
				resp, err := noFollow.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				readBody(resp)
				if resp.StatusCode >= 500 && resp.StatusCode != http.StatusBadGateway {
					t.Errorf("%s cookie on %s: %d", vname, path, resp.StatusCode)
				}
				reached := st.upstreamCount() > before
				if reached && !strings.HasPrefix(path, "/public/") {
					t.Errorf("%s cookie on %s reached the upstream", vname, path)
				}
				if reached {
					if u := st.lastUpstream(t).Header.Get("X-Authentik-Username"); u != "" {
						t.Errorf("%s cookie on %s: upstream was told the user is %q", vname, path, u)
					}
				}
			}
		})
	}
	// Duplicated cookies: a garbage copy beside the real one does not lock
	// the person out, and two copies never mix identities.
	req, _ := http.NewRequest("GET", st.outpost+"/dup", nil)
	req.Header.Set("Cookie", name+"=garbage; "+name+"="+good.Value+"; "+name+"="+foreign.Value)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(resp)
	if resp.StatusCode != 200 || st.lastUpstream(t).Header.Get("X-Authentik-Username") != "alice" {
		t.Errorf("duplicated cookies: %d", resp.StatusCode)
	}
}

// One client cannot hold more websockets than the cap; closing one frees
// its slot.
func TestWebsocketCapPerClient(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", maxWebsockets: 2})
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"))
	wsURL := "ws" + strings.TrimPrefix(st.outpost, "http") + "/live"
	dialer := websocket.Dialer{Jar: c.Jar, HandshakeTimeout: 5 * time.Second}
	var open []*websocket.Conn
	for i := range 2 {
		conn, _, err := dialer.Dial(wsURL, nil)
		if err != nil {
			t.Fatalf("websocket %d: %v", i, err)
		}
		open = append(open, conn)
	}
	_, resp, err := dialer.Dial(wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third websocket: err=%v resp=%v, want 429", err, resp)
	}
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, _, err := dialer.Dial(wsURL, nil)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed after a websocket closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	open[1].Close()
}

// Another site cannot sign a person out: a planted image or link to the
// sign-out (path or marker) and a cross-site form get a page asking to
// confirm, and the session lives on; the confirmation, from this site,
// signs out (issue 20, row 8).
func TestSignOutFromAnotherSiteIsConfirmedFirst(t *testing.T) {
	st := newStack(t)
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, st.outpost+"/home"), "alice", "alice-pw"))
	// Signed in at the outpost: its own answer, without following a
	// redirect (the core would sign alice in again at once).
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	signedIn := func() bool {
		t.Helper()
		resp, err := noFollow.Get(st.outpost + "/home")
		if err != nil {
			t.Fatal(err)
		}
		readBody(resp)
		return resp.StatusCode == http.StatusOK
	}
	if !signedIn() {
		t.Fatal("not signed in to begin with")
	}
	for _, tc := range []struct {
		name, method, path string
		header             []string
	}{
		{"planted image, sign-out path", "GET", "/outpost.goauthentik.io/sign_out", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Dest", "image"}},
		{"planted image, sign-out marker", "GET", "/logo.png?X-authentik-logout=true", []string{"Sec-Fetch-Site", "cross-site"}},
		{"cross-site form", "POST", "/outpost.goauthentik.io/sign_out", []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
		{"old browser, foreign Origin", "POST", "/outpost.goauthentik.io/sign_out", []string{"Origin", "https://evil.example"}},
		{"old browser, opaque Origin", "POST", "/outpost.goauthentik.io/sign_out", []string{"Origin", "null"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, st.outpost+tc.path, nil)
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			if resp.StatusCode != 200 || !strings.Contains(body, `<form method="post" action="`+st.outpost+`/outpost.goauthentik.io/sign_out">`) {
				t.Errorf("%d, want the confirmation page: %.300s", resp.StatusCode, body)
			}
			if !signedIn() {
				t.Fatal("the session ended")
			}
		})
	}
	// The person confirms, from the outpost's own page.
	req, _ := http.NewRequest("POST", st.outpost+"/outpost.goauthentik.io/sign_out", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", st.outpost)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(resp)
	if signedIn() {
		t.Error("still signed in after confirming")
	}
}

// A websocket opened with a Bearer token works, as machine-clients.md
// says, and closes when the token expires (issue 20, row 9).
func TestWebsocketWithBearerToken(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 3, scopes: "[openid, email, profile, ak_proxy]"})
	tok, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
	wsURL := "ws" + strings.TrimPrefix(st.outpost, "http") + "/api/live"
	conn, resp, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial(wsURL, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("websocket with a token: %v (%v)", err, resp)
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte("tick")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "alice: tick" {
		t.Fatalf("echo: %q %v", msg, err)
	}
	// The token lives 3 s: the websocket must not outlive it by much.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the websocket outlived its token by %s", time.Since(start))
			}
			return
		}
	}
}
