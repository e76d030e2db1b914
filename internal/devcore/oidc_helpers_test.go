package devcore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/crypto/bcrypt"
)

const (
	appSecret        = "app-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
	otherSecret      = "other-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
	restrictedSecret = "restricted-secret-0123456789-abcdefghijklmnopqrstu"
	appRedirect      = "https://app.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
	otherRedirect    = "https://other.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
	restrictRedirect = "http://restricted.example.com:8080/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
	outpostToken     = "outpost-token-for-tests"
)

var (
	hashOnce  sync.Once
	hashCache map[string]string
)

// hashOf is a MinCost bcrypt hash of pw, made once per test binary.
func hashOf(t testing.TB, pw string) string {
	t.Helper()
	hashOnce.Do(func() {
		hashCache = map[string]string{}
		for _, p := range []string{"alice-pw", "bob-pw", "alice-app-pw", "alice-app-pw-2", "bob-app-pw"} {
			h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
			if err != nil {
				panic(err)
			}
			hashCache[p] = string(h)
		}
	})
	h, ok := hashCache[pw]
	if !ok {
		t.Fatalf("no hash prepared for %q", pw)
	}
	return h
}

// testConfig: three providers and two users.
//   - app: explicit slug, 1 h tokens, offline_access available.
//   - other: nothing but the basics (defaults left to the devcore).
//   - restricted: only the admins group may use it.
//
// alice is in ops and admins, a superuser with attributes and app
// passwords; bob is only in ops.
func testConfig(t testing.TB) *Config {
	validity := 3600.0
	return &Config{
		Outposts: []OutpostConfig{{PK: "5f0e1c36-8d7a-4b51-9a3e-2f4c6b8d9e01", Name: "test", Token: outpostToken}},
		Providers: []ProviderConfig{
			{
				Name: "App provider", ExternalHost: "https://app.example.com", InternalHost: "http://127.0.0.1:1",
				ClientID: "app-client", CookieSecret: "cookie-secret-app",
				ClientSecret: appSecret, AccessTokenValidity: &validity, ApplicationSlug: "app",
				ApplicationName: "The App",
				ScopesToRequest: []string{"openid", "email", "profile", "entitlements", "ak_proxy", "offline_access"},
			},
			{
				Name: "other", ExternalHost: "https://other.example.com/", InternalHost: "http://127.0.0.1:1",
				ClientID: "other-client", ClientSecret: otherSecret, CookieSecret: "cookie-secret-other",
			},
			{
				Name: "restricted", ExternalHost: "http://restricted.example.com:8080", Mode: "forward_single",
				ClientID: "restricted-client", ClientSecret: restrictedSecret, CookieSecret: "cookie-secret-restricted",
				AllowedGroups: []string{"admins"},
			},
		},
		Groups: []GroupConfig{
			{Name: "ops", Attributes: map[string]any{
				"team": "platform", "shell": "bash",
				"tags":   []any{"from-ops"},
				"nested": map[string]any{"a": 1, "b": "ops"},
			}},
			{Name: "admins", Attributes: map[string]any{
				"team": "admins-team", "tags": []any{"from-admins"},
				"nested": map[string]any{"c": true},
			}},
		},
		Users: []UserConfig{
			{
				Username: "alice", PasswordHash: hashOf(t, "alice-pw"), Email: "alice@example.com",
				Name: "Alice Liddell", IsSuperuser: true, Groups: []string{"ops", "admins"},
				Attributes: map[string]any{
					"shell":             "zsh",
					"nested":            map[string]any{"b": "alice"},
					"additionalHeaders": map[string]any{"X-Team": "platform"},
				},
				AppPasswords: []string{hashOf(t, "alice-app-pw"), hashOf(t, "alice-app-pw-2")},
			},
			{
				Username: "bob", PasswordHash: hashOf(t, "bob-pw"), Email: "bob@example.com", Name: "Bob",
				Groups: []string{"ops"}, AppPasswords: []string{hashOf(t, "bob-app-pw")},
			},
		},
	}
}

// idpCore is a devcore on 127.0.0.1 with the session-end hook recording.
type idpCore struct {
	t   *testing.T
	srv *Server
	ts  *httptest.Server

	mu    sync.Mutex
	ended []string
}

func newIDPCore(t *testing.T, mutate func(*Config)) *idpCore {
	t.Helper()
	cfg := testConfig(t)
	if mutate != nil {
		mutate(cfg)
	}
	srv, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	c := &idpCore{t: t, srv: srv}
	srv.idp.onSessionEnd = func(sid string) {
		c.mu.Lock()
		c.ended = append(c.ended, sid)
		c.mu.Unlock()
	}
	c.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(c.ts.Close)
	return c
}

// endedSIDs is what the session-end hook has seen so far.
func (c *idpCore) endedSIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ended...)
}

// advance moves the devcore's clock forward.
func (c *idpCore) advance(d time.Duration) { c.srv.idp.skew.Add(int64(d)) }

// browser is an HTTP client with a cookie jar that follows redirects within
// the devcore and stops at any other host (the apps do not exist).
func (c *idpCore) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	host := strings.TrimPrefix(c.ts.URL, "http://")
	return &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

// sessionKey is the browser's core session cookie value ("" if none).
func (c *idpCore) sessionKey(b *http.Client) string {
	u, _ := url.Parse(c.ts.URL)
	for _, ck := range b.Jar.Cookies(u) {
		if ck.Name == coreSessionCookie {
			return ck.Value
		}
	}
	return ""
}

// authRequest is the parameters of one authorization request.
type authRequest struct {
	clientID, redirectURI, scope, state, nonce string
	verifier, method                           string // PKCE; method "" = S256 when verifier set
	extra                                      url.Values
}

func (a authRequest) values() url.Values {
	v := url.Values{"client_id": {a.clientID}, "redirect_uri": {a.redirectURI}, "response_type": {"code"}}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("scope", a.scope)
	set("state", a.state)
	set("nonce", a.nonce)
	if a.verifier != "" {
		switch a.method {
		case "", "S256":
			v.Set("code_challenge", s256(a.verifier))
			v.Set("code_challenge_method", "S256")
		case "plain":
			v.Set("code_challenge", a.verifier)
			v.Set("code_challenge_method", "plain")
		}
	}
	for k, vs := range a.extra {
		v[k] = vs
	}
	return v
}

func (c *idpCore) authorizeURL(a authRequest) string {
	return c.ts.URL + "/application/o/authorize/?" + a.values().Encode()
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newVerifier() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func appRequest() authRequest {
	return authRequest{
		clientID: "app-client", redirectURI: appRedirect,
		scope: "openid email profile entitlements ak_proxy", state: "st-" + newVerifier()[:10],
		nonce: "n-" + newVerifier()[:10], verifier: newVerifier(),
	}
}

func readBody(t testing.TB, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// parseForm reads the login form's action and hidden fields.
func parseForm(t testing.TB, page string) (string, url.Values) {
	t.Helper()
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no login form in page:\n%s", page)
	}
	fields := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(page, -1) {
		fields.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), fields
}

// getForm GETs an authorization URL and expects the login form.
func (c *idpCore) getForm(b *http.Client, authURL string) (string, url.Values) {
	c.t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		c.t.Fatal(err)
	}
	page := readBody(c.t, resp)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("authorize: status %d, want the login form:\n%s", resp.StatusCode, page)
	}
	return parseForm(c.t, page)
}

// submit POSTs the login form with credentials; the response is not
// followed off the devcore.
func (c *idpCore) submit(b *http.Client, action string, fields url.Values, user, pass string) *http.Response {
	c.t.Helper()
	f := url.Values{}
	for k, v := range fields {
		f[k] = v
	}
	f.Set("username", user)
	f.Set("password", pass)
	resp, err := b.PostForm(c.ts.URL+action, f)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

// codeFrom checks a redirect to redirectURI and returns its code, checking
// the state came back.
func codeFrom(t testing.TB, resp *http.Response, redirectURI, state string) string {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302 to the client:\n%s", resp.StatusCode, readBody(t, resp))
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, redirectURI+"&") {
		t.Fatalf("Location %q does not extend the redirect URI %q with &", loc, redirectURI)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("X-authentik-auth-callback") != "true" {
		t.Errorf("callback marker lost: %q", loc)
	}
	if q.Get("state") != state {
		t.Errorf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in %q", loc)
	}
	return q.Get("code")
}

// login runs authorize → form → POST for user and returns the code.
func (c *idpCore) login(b *http.Client, a authRequest, user, pass string) string {
	c.t.Helper()
	action, fields := c.getForm(b, c.authorizeURL(a))
	return codeFrom(c.t, c.submit(b, action, fields, user, pass), a.redirectURI, a.state)
}

// tokenCall POSTs a form to the token-style endpoint path; edit may change
// the request (Host, headers, basic auth).
func (c *idpCore) post(path string, form url.Values, edit func(*http.Request)) (int, map[string]any, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	body := readBody(c.t, resp)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		c.t.Fatalf("%s: status %d, body not JSON: %v\n%s", path, resp.StatusCode, err, body)
	}
	return resp.StatusCode, m, resp.Header
}

// exchange trades a code (with the request's verifier) at the token
// endpoint with client_secret_post, as the outpost does.
func (c *idpCore) exchange(a authRequest, code, secret string, edit func(*http.Request)) (int, map[string]any) {
	c.t.Helper()
	f := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {a.redirectURI},
		"client_id": {a.clientID}, "client_secret": {secret},
	}
	if a.verifier != "" {
		f.Set("code_verifier", a.verifier)
	}
	st, m, h := c.post("/application/o/token/", f, edit)
	if h.Get("Cache-Control") != "no-store" {
		c.t.Errorf("token response Cache-Control = %q, want no-store", h.Get("Cache-Control"))
	}
	return st, m
}

// mustExchange is exchange expecting success.
func (c *idpCore) mustExchange(a authRequest, code, secret string) map[string]any {
	c.t.Helper()
	st, m := c.exchange(a, code, secret, nil)
	if st != http.StatusOK {
		c.t.Fatalf("token exchange: %d %v", st, m)
	}
	return m
}

func (c *idpCore) introspect(clientID, secret, token string) (int, map[string]any) {
	c.t.Helper()
	st, m, _ := c.post("/application/o/introspect/", url.Values{
		"client_id": {clientID}, "client_secret": {secret}, "token": {token},
	}, nil)
	return st, m
}

// verifyJWT checks an HS256 JWT with secret the way the outpost does (go-jose,
// issuer, audience, time) and returns its claims.
func verifyJWT(t testing.TB, token, secret, issuer, audience string) map[string]any {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatalf("parse %q: %v", token, err)
	}
	if typ := tok.Headers[0].ExtraHeaders["typ"]; typ != "JWT" {
		t.Errorf("typ header = %v, want JWT", typ)
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims([]byte(secret), &std, &all); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if err := std.Validate(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: time.Now()}); err != nil {
		t.Fatalf("claims: %v (iss %v, aud %v)", err, all["iss"], all["aud"])
	}
	return all
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func num(m map[string]any, k string) int64 {
	f, _ := m[k].(float64)
	return int64(f)
}
