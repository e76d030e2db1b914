package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/devcore"
	"github.com/outpost-dev/outpost/internal/redistest"
	"golang.org/x/crypto/bcrypt"
)

// replicaSet is two outpost processes sharing one store, behind one name
// (outpost.test) that a client reaches on alternating replicas, request by
// request, as a load balancer without sticky sessions would send it.
type replicaSet struct {
	core     string // a counting proxy in front of the devcore
	token    string
	addrs    [2]string
	env      [2][]string
	procs    [2]*process
	next     atomic.Int64
	hits     [2]atomic.Int64
	grants   atomic.Int32 // refresh_token grants the core received
	upstream atomic.Int32 // requests the app received
}

const replicaHost = "outpost.test"

// newReplicaSet starts the replicas with storeEnv, the variables that
// point them at the shared store.
func newReplicaSet(t *testing.T, validity int, storeEnv ...string) *replicaSet {
	t.Helper()
	rs := &replicaSet{token: "replica-outpost-token-0123456789"}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.upstream.Add(1)
		fmt.Fprintf(w, "upstream saw %s as %q", r.URL.Path, r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(up.Close)

	coreLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counterLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs.core = "http://" + counterLn.Addr().String()
	coreURL, _ := url.Parse("http://" + coreLn.Addr().String())
	counter := &http.Server{Handler: &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(coreURL)
		pr.Out.Host = pr.In.Host
		if pr.In.Method == http.MethodPost && pr.In.URL.Path == "/application/o/token/" {
			body, _ := io.ReadAll(pr.In.Body)
			if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "refresh_token" {
				rs.grants.Add(1)
			}
			pr.Out.Body = io.NopCloser(strings.NewReader(string(body)))
			pr.Out.ContentLength = int64(len(body))
		}
	}}}
	go func() { _ = counter.Serve(counterLn) }()
	t.Cleanup(func() { _ = counter.Close() })

	pw, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := devcore.ParseConfig([]byte(fmt.Sprintf(`
outposts:
  - pk: 7a1d3c52-3c55-4e0b-9a43-6c1f1d1e2f31
    name: replicas
    token: %s
    config: {authentik_host: %s}
    providers: [app]
providers:
  - name: app
    external_host: http://%s
    internal_host: %s
    client_id: app-client
    client_secret: app-client-secret-0123456789abcdef0123456789
    cookie_secret: cookie-secret-0123456789abcdef
    access_token_validity: %d
    scopes_to_request: [openid, email, profile, ak_proxy, offline_access]
users:
  - username: alice
    password_hash: "%s"
    email: alice@example.com
`, rs.token, rs.core, replicaHost, up.URL, validity, pw)))
	if err != nil {
		t.Fatal(err)
	}
	core, err := devcore.New(cfg, devcore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- core.Serve(ctx, coreLn) }()
	t.Cleanup(func() { cancel(); <-done })

	for i := range rs.addrs {
		rs.addrs[i] = freeAddr(t)
		rs.env[i] = append([]string{
			"AUTHENTIK_HOST=" + rs.core + "/", "AUTHENTIK_TOKEN=" + rs.token,
			"AUTHENTIK_LISTEN__HTTP=" + rs.addrs[i], "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t),
		}, storeEnv...)
		rs.startReplica(t, i)
	}
	return rs
}

func (rs *replicaSet) startReplica(t *testing.T, i int) {
	t.Helper()
	p := start(t, rs.env[i])
	p.waitFor(t, "configuration in force", 60*time.Second)
	rs.procs[i] = p
}

// restartReplica stops replica i as an orchestrator would (SIGTERM) and
// starts it again on the same addresses.
func (rs *replicaSet) restartReplica(t *testing.T, i int) {
	t.Helper()
	_ = rs.procs[i].cmd.Process.Signal(syscall.SIGTERM)
	if code := rs.procs[i].wait(t, 30*time.Second); code != 0 {
		t.Errorf("replica %d exited %d on SIGTERM", i, code)
	}
	rs.startReplica(t, i)
}

// client is a browser whose requests to outpost.test go to the replicas in
// turn: no keep-alive, so every request picks again.
func (rs *replicaSet) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, _ := net.SplitHostPort(addr); host == replicaHost {
				i := rs.next.Add(1) % 2
				rs.hits[i].Add(1)
				addr = rs.addrs[i]
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second}
}

// on returns a client that sends everything for outpost.test to replica i.
func (rs *replicaSet) on(c *http.Client, i int) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Jar: c.Jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, _, _ := net.SplitHostPort(addr); host == replicaHost {
				addr = rs.addrs[i]
			}
			return dialer.DialContext(ctx, network, addr)
		}}}
}

var (
	replicaFormAction = regexp.MustCompile(`(?i)<form method="post" action="([^"]*)"`)
	replicaHidden     = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// do sends one GET and returns status, final URL and body.
func do(t *testing.T, c *http.Client, u string, header ...string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept", "text/html")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.String(), string(b)
}

// login opens the app, fills the devcore's form and lands back on the app.
func (rs *replicaSet) login(t *testing.T, c *http.Client) {
	t.Helper()
	code, at, body := do(t, c, "http://"+replicaHost+"/start-here")
	m := replicaFormAction.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("no login form: %d at %s:\n%s", code, at, body)
	}
	base, _ := url.Parse(at)
	action, _ := base.Parse(html.UnescapeString(m[1]))
	form := url.Values{"username": {"alice"}, "password": {"alice-pw"}}
	for _, h := range replicaHidden.FindAllStringSubmatch(body, -1) {
		form.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	resp, err := c.PostForm(action.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.String() != "http://"+replicaHost+"/start-here" || string(b) != `upstream saw /start-here as "alice"` {
		t.Fatalf("after login: %d at %s: %s", resp.StatusCode, resp.Request.URL, b)
	}
}

// signedInOn reports whether replica i serves the client's session (200 as
// alice) rather than sending it to sign in (302).
func (rs *replicaSet) signedInOn(t *testing.T, c *http.Client, i int) bool {
	t.Helper()
	code, _, body := do(t, rs.on(c, i), "http://"+replicaHost+"/probe")
	switch {
	case code == 200 && body == `upstream saw /probe as "alice"`:
		return true
	case code == http.StatusFound:
		return false
	}
	t.Fatalf("replica %d: %d %s", i, code, body)
	return false
}

// Two outposts share sessions through Redis; a client alternates between
// them on every request. Login, proxied requests, a replica restart, Redis
// going away and coming back, a token refresh under 50 parallel requests,
// sign-out and the core's SESSION_END all behave as with one outpost.
func TestReplicasShareSessionsThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	testReplicasShareSessions(t, srv.Kill, srv.Restart, "OUTPOST_SESSION_URL="+srv.URL())
}

// testReplicasShareSessions runs the replicas on the store storeEnv names;
// down and up take the store away and bring it back with its data.
func testReplicasShareSessions(t *testing.T, down, up func(), storeEnv ...string) {
	const validity = 24 // seconds; refresh is due in the last quarter (6 s)
	rs := newReplicaSet(t, validity, storeEnv...)
	c := rs.client(t)

	rs.login(t, c)
	loggedIn := time.Now()
	if rs.hits[0].Load() == 0 || rs.hits[1].Load() == 0 {
		t.Fatalf("the login did not cross replicas: %d/%d", rs.hits[0].Load(), rs.hits[1].Load())
	}
	for i := range 6 {
		if code, at, body := do(t, c, fmt.Sprintf("http://%s/page/%d", replicaHost, i)); code != 200 || body != fmt.Sprintf(`upstream saw /page/%d as "alice"`, i) {
			t.Fatalf("request %d: %d at %s: %s", i, code, at, body)
		}
	}

	// One replica restarts mid-session: the person stays signed in on it.
	rs.restartReplica(t, 0)
	for i := range 2 {
		if !rs.signedInOn(t, c, i) {
			t.Fatalf("replica %d lost the session across a restart of replica 0", i)
		}
	}

	// The store goes away: 503 on both, nothing reaches the app; it comes
	// back (with its data) and service resumes by itself.
	down()
	before := rs.upstream.Load()
	time.Sleep(1100 * time.Millisecond) // past any cache
	for i := range 4 {
		code, _, body := do(t, rs.on(c, i%2), "http://"+replicaHost+"/while-down")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "Service unavailable") {
			t.Errorf("replica %d with the store down: %d %s", i%2, code, body)
		}
	}
	if rs.upstream.Load() != before {
		t.Fatal("a request reached the app while the store was down")
	}
	up()
	for i := range 2 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, _, body := do(t, rs.on(c, i), "http://"+replicaHost+"/probe")
			if code == 200 && strings.Contains(body, `as "alice"`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d did not recover after the store came back: %d %s", i, code, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// 50 parallel requests across both replicas inside the refresh window
	// redeem the refresh token once.
	if n := rs.grants.Load(); n != 0 {
		t.Fatalf("%d refreshes before the window", n)
	}
	time.Sleep(time.Until(loggedIn.Add((validity - 4) * time.Second)))
	var wg sync.WaitGroup
	results := make(chan string, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, body := do(t, c, fmt.Sprintf("http://%s/parallel/%d", replicaHost, i))
			if code != 200 || body != fmt.Sprintf(`upstream saw /parallel/%d as "alice"`, i) {
				results <- fmt.Sprint(code, " ", body)
			}
		}()
	}
	wg.Wait()
	close(results)
	for r := range results {
		t.Errorf("a parallel request got %s", r)
	}
	if n := rs.grants.Load(); n != 1 {
		t.Errorf("the core saw %d refresh grants from 50 parallel requests on two replicas, want exactly 1", n)
	}
	// Both replicas serve the refreshed session. (In core mode the session
	// itself still ends at access_token_validity + 1 s from sign-in, as
	// authentik defines it: a refresh renews the token, not the session.)
	for i := range 2 {
		if !rs.signedInOn(t, c, i) {
			t.Errorf("replica %d does not serve the refreshed session", i)
		}
	}

	// Sign-out on one replica ends the session on both, even for a copy of
	// the cookie kept from before (both replicas just served it, so both
	// had it cached); the next visit is a clean sign-in, no loop.
	site, _ := url.Parse("http://" + replicaHost + "/")
	kept, _ := cookiejar.New(nil)
	kept.SetCookies(site, c.Jar.Cookies(site))
	code, at, _ := do(t, c, "http://"+replicaHost+"/outpost.goauthentik.io/sign_out")
	if code != 200 || !strings.HasPrefix(at, rs.core+"/application/o/app/end-session/") {
		t.Fatalf("sign-out ended at %d %s", code, at)
	}
	for i := range 2 {
		if rs.signedInOn(t, &http.Client{Jar: kept}, i) {
			t.Errorf("replica %d still serves the session after sign-out", i)
		}
	}
	rs.login(t, c)

	// SESSION_END from the core ends the session on both within a second.
	req, _ := http.NewRequest("POST", rs.core+"/api/devcore/users/alice/end-sessions", nil)
	req.Header.Set("Authorization", "Bearer "+rs.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ended := time.Now()
	var gone [2]bool
	for !gone[0] || !gone[1] {
		for i := range 2 {
			if !gone[i] && !rs.signedInOn(t, c, i) {
				gone[i] = true
			}
		}
		if time.Since(ended) > time.Second {
			t.Fatalf("SESSION_END: session still served after 1 s (ended on replica 0: %v, 1: %v)", gone[0], gone[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("requests per replica: %d / %d", rs.hits[0].Load(), rs.hits[1].Load())
}

// Configuration mistakes name the variables; the password never shows,
// whether the connection works or Redis refuses it.
func TestSessionStoreConfiguration(t *testing.T) {
	p := start(t, []string{"OUTPOST_SESSION_URL=redis://:hunter2@127.0.0.1:1/0", "AUTHENTIK_REDIS__HOST=redis", "AUTHENTIK_REDIS__PASSWORD=hunter2"})
	if code := p.wait(t, 30*time.Second); code == 0 {
		t.Error("both Redis settings: exit 0")
	}
	if out := p.output(); !strings.Contains(out, "OUTPOST_SESSION_URL: set together with AUTHENTIK_REDIS__HOST, AUTHENTIK_REDIS__PASSWORD") || strings.Contains(out, "hunter2") {
		t.Errorf("both Redis settings:\n%s", out)
	}

	srv := redistest.StartWithPassword(t, "s3cret-pw")
	cfg := t.TempDir() + "/providers.yaml"
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(srv.Addr())
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"AUTHENTIK_REDIS__HOST=" + host, "AUTHENTIK_REDIS__PORT=" + port, "AUTHENTIK_REDIS__PASSWORD=s3cret-pw"}, `"sessions in redis"`},
		{[]string{"OUTPOST_SESSION_URL=" + srv.URL()}, `"sessions in redis"`},
		{[]string{"OUTPOST_SESSION_URL=redis://:wrong-s3cret-pw@" + srv.Addr() + "/0"}, "refused the connection"},
	} {
		env := append([]string{"AUTHENTIK_LISTEN__HTTP=" + freeAddr(t), "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t)}, tc.env...)
		p := start(t, env, "--config", cfg)
		p.waitFor(t, tc.want, 30*time.Second)
		p.waitFor(t, "configuration in force", 30*time.Second)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		p.wait(t, 30*time.Second)
		if out := p.output(); strings.Contains(out, "s3cret-pw") {
			t.Errorf("the Redis password is in the output:\n%s", out)
		}
	}
}
