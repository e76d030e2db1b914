package devcore

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The whole browser login: authorize shows the form, the POST signs in and
// redirects with a code, the code buys tokens with PKCE, and the access
// token carries every claim of spec §6 as authentik emits them.
func TestLoginCodeFlowClaims(t *testing.T) {
	c := newIDPCore(t, nil)
	b := c.browser()
	a := appRequest()

	action, fields := c.getForm(b, c.authorizeURL(a))
	if action != "/application/o/authorize/" {
		t.Errorf("form action = %q", action)
	}
	for k, want := range map[string]string{
		"client_id": a.clientID, "redirect_uri": a.redirectURI, "response_type": "code", "state": a.state,
		"nonce": a.nonce, "code_challenge": s256(a.verifier), "code_challenge_method": "S256",
		"scope": "openid email profile entitlements ak_proxy",
	} {
		if got := fields.Get(k); got != want {
			t.Errorf("hidden %s = %q, want %q", k, got, want)
		}
	}
	if fields.Get("csrf_token") == "" {
		t.Error("no csrf_token in the form")
	}

	before := time.Now().Unix()
	resp := c.submit(b, action, fields, "alice", "alice-pw")
	var sessionCookie string
	for _, sc := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, coreSessionCookie+"=") {
			sessionCookie = sc
		}
	}
	for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(sessionCookie, attr) {
			t.Errorf("session cookie %q lacks %s", sessionCookie, attr)
		}
	}
	code := codeFrom(t, resp, a.redirectURI, a.state)
	key := c.sessionKey(b)
	if len(key) != 64 {
		t.Fatalf("session key %q, want 32 random bytes in hex", key)
	}
	wantSID := sha256Hex(key)

	tok := c.mustExchange(a, code, appSecret)
	if tok["token_type"] != "Bearer" || num(tok, "expires_in") != 3600 || str(tok, "scope") != "openid email profile entitlements ak_proxy" {
		t.Errorf("token response = %v", tok)
	}
	if _, ok := tok["refresh_token"]; ok {
		t.Error("refresh_token issued without offline_access")
	}
	issuer := c.ts.URL + "/application/o/app/"
	at := verifyJWT(t, str(tok, "access_token"), appSecret, issuer, "app-client")
	id := verifyJWT(t, str(tok, "id_token"), appSecret, issuer, "app-client")

	want := map[string]any{
		"iss": issuer, "sub": sha256Hex("alice-devcore"), "aud": "app-client",
		"acr": "goauthentik.io/providers/oauth2/default", "amr": []any{"pwd"},
		"nonce": a.nonce, "sid": wantSID,
		"email": "alice@example.com", "email_verified": false,
		"name": "Alice Liddell", "given_name": "Alice Liddell", "preferred_username": "alice", "nickname": "alice",
		"groups": []any{"ops", "admins"}, "entitlements": []any{}, "roles": []any{},
		"ak_proxy": map[string]any{
			"is_superuser": true,
			// groups merged in name order (admins, then ops), then the user's own
			"user_attributes": map[string]any{
				"team": "platform", "shell": "zsh", "tags": []any{"from-admins", "from-ops"},
				"nested":            map[string]any{"a": float64(1), "b": "alice", "c": true},
				"additionalHeaders": map[string]any{"X-Team": "platform"},
			},
		},
	}
	for k, v := range want {
		if !reflect.DeepEqual(at[k], v) {
			t.Errorf("access token %s = %#v, want %#v", k, at[k], v)
		}
		if !reflect.DeepEqual(id[k], v) {
			t.Errorf("id token %s = %#v, want %#v", k, id[k], v)
		}
	}
	if num(at, "exp")-num(at, "iat") != 3600 {
		t.Errorf("exp - iat = %d, want the provider's 3600", num(at, "exp")-num(at, "iat"))
	}
	if iat := num(at, "iat"); iat < before-1 || iat > time.Now().Unix()+1 {
		t.Errorf("iat %d not now", iat)
	}
	if at := num(at, "auth_time"); at < before-1 || at > time.Now().Unix()+1 {
		t.Errorf("auth_time %d not the login time", at)
	}
	if at["azp"] != "app-client" || at["scope"] != "openid email profile entitlements ak_proxy" || len(str(at, "uid")) == 0 {
		t.Errorf("access token extras azp=%v scope=%v uid=%v", at["azp"], at["scope"], at["uid"])
	}
	for _, k := range []string{"azp", "uid", "scope"} {
		if _, ok := id[k]; ok {
			t.Errorf("id token carries access-token-only claim %s", k)
		}
	}
}

// Scopes decide claims: without email/profile/ak_proxy there are none of
// theirs, and a scope the provider has no mapping for is dropped.
func TestClaimsFollowScope(t *testing.T) {
	c := newIDPCore(t, nil)
	a := appRequest()
	a.scope = "openid email unknown-scope"
	tok := c.mustExchange(a, c.login(c.browser(), a, "bob", "bob-pw"), appSecret)
	if str(tok, "scope") != "openid email" {
		t.Errorf("scope = %q, want the supported subset", str(tok, "scope"))
	}
	at := verifyJWT(t, str(tok, "access_token"), appSecret, c.ts.URL+"/application/o/app/", "app-client")
	if at["email"] != "bob@example.com" {
		t.Errorf("email = %v", at["email"])
	}
	for _, k := range []string{"name", "preferred_username", "groups", "entitlements", "ak_proxy"} {
		if _, ok := at[k]; ok {
			t.Errorf("claim %s present without its scope", k)
		}
	}

	// No scope at all: every scope the provider has (defaults here).
	o := authRequest{clientID: "other-client", redirectURI: otherRedirect, state: "s", verifier: newVerifier()}
	tok = c.mustExchange(o, c.login(c.browser(), o, "bob", "bob-pw"), otherSecret)
	if str(tok, "scope") != "openid email profile entitlements ak_proxy" {
		t.Errorf("default scope = %q", str(tok, "scope"))
	}
	at = verifyJWT(t, str(tok, "access_token"), otherSecret, c.ts.URL+"/application/o/other/", "other-client")
	if ap, _ := at["ak_proxy"].(map[string]any); ap == nil || ap["is_superuser"] != false {
		t.Errorf("ak_proxy = %v", at["ak_proxy"])
	}
	if _, ok := at["nonce"]; ok {
		t.Error("nonce claim without a nonce")
	}
}

// iss is built from the token request's Host and X-Forwarded-Proto (spec
// §7.2): the outpost rewrites them so the issuer matches the browser's.
func TestIssuerFollowsTokenRequestHost(t *testing.T) {
	c := newIDPCore(t, nil)
	for _, tc := range []struct {
		host, proto, want string
	}{
		{"sso.example.test", "https", "https://sso.example.test/application/o/app/"},
		{"sso.example.test:8443", "https", "https://sso.example.test:8443/application/o/app/"},
		{"core.internal:9000", "", "http://core.internal:9000/application/o/app/"},
		{"core.internal", "gopher", "http://core.internal/application/o/app/"},
	} {
		t.Run(tc.host+"_"+tc.proto, func(t *testing.T) {
			a := appRequest()
			code := c.login(c.browser(), a, "alice", "alice-pw")
			st, tok := c.exchange(a, code, appSecret, func(r *http.Request) {
				r.Host = tc.host
				if tc.proto != "" {
					r.Header.Set("X-Forwarded-Proto", tc.proto)
				}
			})
			if st != http.StatusOK {
				t.Fatalf("%s: %d %v", tc.host, st, tok)
			}
			verifyJWT(t, str(tok, "access_token"), appSecret, tc.want, "app-client")
			verifyJWT(t, str(tok, "id_token"), appSecret, tc.want, "app-client")
		})
	}
}

// A signed-in browser gets its code without the form, with the same sid;
// prompt=login shows the form again; prompt=none without a session fails.
func TestSSOSessionSkipsForm(t *testing.T) {
	c := newIDPCore(t, nil)
	b := c.browser()
	a := appRequest()
	first := c.mustExchange(a, c.login(b, a, "alice", "alice-pw"), appSecret)

	o := authRequest{clientID: "other-client", redirectURI: otherRedirect, state: "st2", verifier: newVerifier()}
	resp, err := b.Get(c.authorizeURL(o))
	if err != nil {
		t.Fatal(err)
	}
	second := c.mustExchange(o, codeFrom(t, resp, o.redirectURI, o.state), otherSecret)
	sid1 := verifyJWT(t, str(first, "access_token"), appSecret, c.ts.URL+"/application/o/app/", "app-client")["sid"]
	sid2 := verifyJWT(t, str(second, "access_token"), otherSecret, c.ts.URL+"/application/o/other/", "other-client")["sid"]
	if sid1 != sid2 || sid1 == nil {
		t.Errorf("sid %v then %v, want one core session", sid1, sid2)
	}

	o.extra = url.Values{"prompt": {"login"}}
	c.getForm(b, c.authorizeURL(o)) // fails the test unless it is the form

	o.extra = url.Values{"prompt": {"none"}}
	resp, err = c.browser().Get(c.authorizeURL(o))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if q := locationQuery(t, resp); q.Get("error") != "login_required" || q.Get("state") != o.state {
		t.Errorf("prompt=none without session: %v", q)
	}
}

func locationQuery(t testing.TB, resp *http.Response) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// Wrong passwords, unknown users and forged forms sign no one in.
func TestLoginFailures(t *testing.T) {
	c := newIDPCore(t, nil)
	a := appRequest()
	for _, tc := range []struct{ user, pass string }{
		{"alice", "wrong"}, {"alice", ""}, {"nobody", "alice-pw"}, {"ALICE", "alice-pw"}, {"alice", "alice-app-pw"},
	} {
		t.Run(tc.user+"_"+tc.pass, func(t *testing.T) {
			b := c.browser()
			action, fields := c.getForm(b, c.authorizeURL(a))
			resp := c.submit(b, action, fields, tc.user, tc.pass)
			page := readBody(t, resp)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" {
				t.Errorf("%s/%s: status %d Location %q", tc.user, tc.pass, resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(page, "Invalid username or password.") {
				t.Errorf("%s/%s: no error message", tc.user, tc.pass)
			}
			if c.sessionKey(b) != "" {
				t.Errorf("%s/%s: a core session cookie was set", tc.user, tc.pass)
			}
			// The form comes back with the parameters, ready for a retry.
			if _, f := parseForm(t, page); f.Get("state") != a.state {
				t.Errorf("retry form lost the state: %v", f)
			}
		})
	}

	// CSRF: a token from another browser, or none, is refused.
	b1, b2 := c.browser(), c.browser()
	action, fields1 := c.getForm(b1, c.authorizeURL(a))
	c.getForm(b2, c.authorizeURL(a))
	for name, token := range map[string]string{"foreign": fields1.Get("csrf_token"), "missing": "", "garbage": "!!"} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range fields1 {
				f[k] = v
			}
			if token == "" {
				f.Del("csrf_token")
				f.Set("csrf_token", "")
			} else {
				f.Set("csrf_token", token)
			}
			resp := c.submit(b2, action, f, "alice", "alice-pw")
			readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden || c.sessionKey(b2) != "" {
				t.Errorf("%s CSRF token: status %d, session %q", name, resp.StatusCode, c.sessionKey(b2))
			}
		})
	}
	// And the right one still works.
	codeFrom(t, c.submit(b1, action, fields1, "alice", "alice-pw"), a.redirectURI, a.state)
}

// An unknown client or an unregistered redirect URI gets an error page,
// never a redirect; other errors go back to the (registered) redirect URI.
func TestAuthorizeRejections(t *testing.T) {
	c := newIDPCore(t, nil)
	good := appRequest()
	for name, mod := range map[string]func(*authRequest){
		"unknown client": func(a *authRequest) { a.clientID = "nope" },
		"no client":      func(a *authRequest) { a.clientID = "" },
		"no redirect":    func(a *authRequest) { a.redirectURI = "" },
		"other host": func(a *authRequest) {
			a.redirectURI = "https://evil.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
		},
		"http":        func(a *authRequest) { a.redirectURI = strings.Replace(appRedirect, "https:", "http:", 1) },
		"no query":    func(a *authRequest) { a.redirectURI = "https://app.example.com/outpost.goauthentik.io/callback" },
		"extra param": func(a *authRequest) { a.redirectURI = appRedirect + "&x=1" },
		"trailing slash": func(a *authRequest) {
			a.redirectURI = "https://app.example.com/outpost.goauthentik.io/callback/?X-authentik-auth-callback=true"
		},
		"case": func(a *authRequest) {
			a.redirectURI = "https://App.example.com/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"
		},
		"other client's":        func(a *authRequest) { a.redirectURI = otherRedirect },
		"repeated redirect_uri": func(a *authRequest) { a.extra = url.Values{"redirect_uri": {appRedirect, appRedirect}} },
	} {
		t.Run(name, func(t *testing.T) {
			a := good
			mod(&a)
			resp, err := c.browser().Get(c.authorizeURL(a))
			if err != nil {
				t.Fatal(err)
			}
			page := readBody(t, resp)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || strings.Contains(page, "<form") {
				t.Errorf("%s: status %d, Location %q, Content-Type %q", name, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Content-Type"))
			}
		})
	}

	// The second registered URI (external_host + marker) is accepted.
	alt := good
	alt.redirectURI = "https://app.example.com?X-authentik-auth-callback=true"
	c.getForm(c.browser(), c.authorizeURL(alt))

	for name, tc := range map[string]struct {
		extra url.Values
		err   string
	}{
		"implicit":       {url.Values{"response_type": {"token"}}, "unsupported_response_type"},
		"no type":        {url.Values{"response_type": {""}}, "invalid_request"},
		"bad method":     {url.Values{"code_challenge_method": {"S512"}}, "invalid_request"},
		"short pkce":     {url.Values{"code_challenge": {"abc"}}, "invalid_request"},
		"repeated scope": {url.Values{"scope": {"openid", "email"}}, "invalid_request"},
		"request object": {url.Values{"request": {"eyJ..."}}, "request_not_supported"},
	} {
		t.Run(name, func(t *testing.T) {
			a := good
			a.extra = tc.extra
			resp, err := c.browser().Get(c.authorizeURL(a))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !strings.HasPrefix(resp.Header.Get("Location"), appRedirect+"&") {
				t.Errorf("%s: Location %q", name, resp.Header.Get("Location"))
				return
			}
			if q := locationQuery(t, resp); q.Get("error") != tc.err || q.Get("state") != a.state || q.Get("code") != "" {
				t.Errorf("%s: redirect query %v, want error=%s", name, q, tc.err)
			}
		})
	}
}

// A code works once; its replay fails and revokes what it bought.
func TestCodeReplayRevokesTokens(t *testing.T) {
	c := newIDPCore(t, nil)
	a := appRequest()
	a.scope += " offline_access"
	code := c.login(c.browser(), a, "alice", "alice-pw")
	tok := c.mustExchange(a, code, appSecret)
	if _, m := c.introspect("app-client", appSecret, str(tok, "access_token")); m["active"] != true {
		t.Fatalf("fresh token inactive: %v", m)
	}
	st, m := c.exchange(a, code, appSecret, nil)
	if st != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v", st, m)
	}
	if _, m := c.introspect("app-client", appSecret, str(tok, "access_token")); m["active"] != false {
		t.Errorf("access token still active after the code was replayed: %v", m)
	}
	st, m, _ = c.post("/application/o/token/", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {str(tok, "refresh_token")},
		"client_id": {"app-client"}, "client_secret": {appSecret},
	}, nil)
	if st != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("refresh after replay: %d %v", st, m)
	}
}

// Concurrent exchanges of one code: exactly one wins.
func TestCodeSingleUseUnderRace(t *testing.T) {
	c := newIDPCore(t, nil)
	a := appRequest()
	code := c.login(c.browser(), a, "alice", "alice-pw")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			st, _ := c.exchange(a, code, appSecret, nil)
			if st == http.StatusOK {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d exchanges of one code succeeded, want 1", wins)
	}
}

func TestCodeExchangeChecks(t *testing.T) {
	c := newIDPCore(t, nil)
	fresh := func(mod func(*authRequest)) (authRequest, string) {
		a := appRequest()
		if mod != nil {
			mod(&a)
		}
		return a, c.login(c.browser(), a, "alice", "alice-pw")
	}
	expect := func(name string, st int, m map[string]any, status int, errCode string) {
		t.Helper()
		if st != status || m["error"] != errCode {
			t.Errorf("%s: %d %v, want %d %s", name, st, m, status, errCode)
		}
	}

	a, code := fresh(nil)
	b := a
	b.verifier = newVerifier()
	st, m := c.exchange(b, code, appSecret, nil)
	expect("wrong verifier", st, m, 400, "invalid_grant")
	st, m = c.exchange(a, code, appSecret, nil)
	expect("right verifier after a failed attempt (code spent)", st, m, 400, "invalid_grant")

	a, code = fresh(nil)
	b = a
	b.verifier = ""
	st, m = c.exchange(b, code, appSecret, nil)
	expect("missing verifier", st, m, 400, "invalid_grant")

	a, code = fresh(func(a *authRequest) { a.verifier = "" })
	b = a
	b.verifier = newVerifier()
	st, m = c.exchange(b, code, appSecret, nil)
	expect("verifier without challenge", st, m, 400, "invalid_grant")
	a, code = fresh(func(a *authRequest) { a.verifier = "" })
	c.mustExchange(a, code, appSecret) // no PKCE at all is still allowed, as in authentik

	a, code = fresh(func(a *authRequest) { a.method = "plain" })
	c.mustExchange(a, code, appSecret)

	a, code = fresh(nil)
	st, m = c.exchange(a, code, "wrong-secret", nil)
	expect("wrong secret", st, m, 401, "invalid_client")
	c.mustExchange(a, code, appSecret) // a failed client authentication does not spend the code

	a, code = fresh(nil)
	b = a
	b.redirectURI = "https://app.example.com?X-authentik-auth-callback=true"
	st, m = c.exchange(b, code, appSecret, nil)
	expect("other redirect_uri", st, m, 400, "invalid_grant")

	a, code = fresh(nil)
	b = a
	b.clientID = "other-client"
	st, m = c.exchange(b, code, otherSecret, nil)
	expect("another client's code", st, m, 400, "invalid_grant")
	c.mustExchange(a, code, appSecret) // ...which did not spend it

	a, code = fresh(nil)
	c.advance(61 * time.Second)
	st, m = c.exchange(a, code, appSecret, nil)
	expect("expired code", st, m, 400, "invalid_grant")

	st, m, _ = c.post("/application/o/token/", url.Values{"grant_type": {"implicit"}, "client_id": {"app-client"}}, nil)
	expect("unsupported grant", st, m, 400, "unsupported_grant_type")
	st, m, _ = c.post("/application/o/token/", url.Values{"client_id": {"app-client"}}, nil)
	expect("no grant type", st, m, 400, "invalid_request")
}

// client_secret_basic works as well as client_secret_post, including
// form-urlencoded credentials (RFC 6749 §2.3.1); mixing both is refused.
func TestClientSecretBasic(t *testing.T) {
	c := newIDPCore(t, func(cfg *Config) { cfg.Providers[1].ClientSecret = "other secret+with/odd:chars-0123456789" })
	a := authRequest{clientID: "other-client", redirectURI: otherRedirect, state: "s", verifier: newVerifier()}
	code := c.login(c.browser(), a, "alice", "alice-pw")
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {a.redirectURI}, "code_verifier": {a.verifier}}
	st, m, h := c.post("/application/o/token/", f, func(r *http.Request) {
		r.SetBasicAuth("other-client", "wrong")
	})
	if st != 401 || m["error"] != "invalid_client" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("wrong basic secret: %d %v %v", st, m, h)
	}
	st, m, _ = c.post("/application/o/token/", f, func(r *http.Request) {
		r.SetBasicAuth(url.QueryEscape("other-client"), url.QueryEscape("other secret+with/odd:chars-0123456789"))
	})
	if st != 200 {
		t.Fatalf("basic: %d %v", st, m)
	}
	f.Set("client_secret", "x")
	st, m, _ = c.post("/application/o/token/", f, func(r *http.Request) { r.SetBasicAuth("other-client", "y") })
	if st != 400 || m["error"] != "invalid_request" {
		t.Errorf("two methods: %d %v", st, m)
	}
}

// Refresh tokens: only with offline_access (and only where the provider
// has it), rotated on use, bound to their client.
func TestRefreshTokens(t *testing.T) {
	c := newIDPCore(t, nil)
	a := appRequest()
	a.scope += " offline_access"
	tok := c.mustExchange(a, c.login(c.browser(), a, "alice", "alice-pw"), appSecret)
	rt := str(tok, "refresh_token")
	if rt == "" {
		t.Fatalf("no refresh_token with offline_access: %v", tok)
	}
	if _, m := c.introspect("app-client", appSecret, rt); m["active"] != true || m["sub"] != sha256Hex("alice-devcore") {
		t.Errorf("introspecting the refresh token: %v", m)
	}
	refresh := func(token, clientID, secret string, extra url.Values) (int, map[string]any) {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {clientID}, "client_secret": {secret}}
		for k, v := range extra {
			f[k] = v
		}
		st, m, _ := c.post("/application/o/token/", f, func(r *http.Request) {
			r.Host = "sso.example.test"
			r.Header.Set("X-Forwarded-Proto", "https")
		})
		return st, m
	}

	st, m := refresh(rt, "other-client", otherSecret, nil)
	if st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("another client's refresh token: %d %v", st, m)
	}
	st, m = refresh(rt, "app-client", "wrong", nil)
	if st != 401 || m["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", st, m)
	}
	st, m = refresh(rt, "app-client", appSecret, url.Values{"scope": {"openid groups-i-never-had"}})
	if st != 400 || m["error"] != "invalid_scope" {
		t.Errorf("widening scope: %d %v", st, m)
	}

	st, next := refresh(rt, "app-client", appSecret, nil)
	if st != 200 {
		t.Fatalf("refresh: %d %v", st, next)
	}
	rt2 := str(next, "refresh_token")
	if rt2 == "" || rt2 == rt || str(next, "access_token") == str(tok, "access_token") {
		t.Fatalf("refresh did not rotate: %v", next)
	}
	at := verifyJWT(t, str(next, "access_token"), appSecret, "https://sso.example.test/application/o/app/", "app-client")
	first := verifyJWT(t, str(tok, "access_token"), appSecret, c.ts.URL+"/application/o/app/", "app-client")
	for _, k := range []string{"sid", "auth_time", "nonce", "sub"} {
		if !reflect.DeepEqual(at[k], first[k]) {
			t.Errorf("refreshed %s = %v, want %v", k, at[k], first[k])
		}
	}
	st, m = refresh(rt, "app-client", appSecret, nil)
	if st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("reusing the rotated refresh token: %d %v", st, m)
	}
	if _, m := c.introspect("app-client", appSecret, rt); m["active"] != false {
		t.Errorf("rotated refresh token still active: %v", m)
	}
	// Narrowing the scope is allowed; without offline_access no new one.
	st, m = refresh(rt2, "app-client", appSecret, url.Values{"scope": {"openid email"}})
	if st != 200 || str(m, "scope") != "openid email" || m["refresh_token"] != nil {
		t.Errorf("narrowed refresh: %d %v", st, m)
	}

	// The "other" provider has no offline_access mapping: asking for it
	// yields neither the scope nor a refresh token.
	o := authRequest{clientID: "other-client", redirectURI: otherRedirect, scope: "openid offline_access", state: "s", verifier: newVerifier()}
	tok = c.mustExchange(o, c.login(c.browser(), o, "alice", "alice-pw"), otherSecret)
	if tok["refresh_token"] != nil || str(tok, "scope") != "openid" {
		t.Errorf("offline_access where the provider lacks it: %v", tok)
	}
}

// The outpost's HTTP Basic path (spec §10): client_credentials with a
// username and an app password, no client secret; the id_token carries the
// claims, without sid.
func TestClientCredentialsAppPassword(t *testing.T) {
	c := newIDPCore(t, nil)
	cc := func(clientID, user, pass string) (int, map[string]any) {
		st, m, _ := c.post("/application/o/token/", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {clientID}, "username": {user}, "password": {pass},
			"scope": {"openid email profile entitlements ak_proxy"},
		}, nil)
		return st, m
	}
	for _, pw := range []string{"alice-app-pw", "alice-app-pw-2"} {
		t.Run(pw, func(t *testing.T) {
			st, tok := cc("app-client", "alice", pw)
			if st != 200 {
				t.Fatalf("app password %s: %d %v", pw, st, tok)
			}
			if tok["refresh_token"] != nil || tok["token_type"] != "Bearer" || str(tok, "access_token") == "" {
				t.Errorf("response %v", tok)
			}
			id := verifyJWT(t, str(tok, "id_token"), appSecret, c.ts.URL+"/application/o/app/", "app-client")
			if id["preferred_username"] != "alice" || id["sub"] != sha256Hex("alice-devcore") || id["ak_proxy"] == nil {
				t.Errorf("id_token claims %v", id)
			}
			for _, k := range []string{"sid", "amr", "nonce"} {
				if _, ok := id[k]; ok {
					t.Errorf("client_credentials id_token has %s", k)
				}
			}
			if _, m := c.introspect("app-client", appSecret, str(tok, "access_token")); m["active"] != true {
				t.Errorf("introspection of a client_credentials token: %v", m)
			}
		})
	}
	// The password grant is the same thing in authentik.
	st, m, _ := c.post("/application/o/token/", url.Values{
		"grant_type": {"password"}, "client_id": {"app-client"}, "username": {"alice"}, "password": {"alice-app-pw"},
	}, nil)
	if st != 200 {
		t.Errorf("password grant: %d %v", st, m)
	}

	for name, tc := range map[string]struct {
		client, user, pass string
		status             int
		err                string
	}{
		"login password is no app password": {"app-client", "alice", "alice-pw", 400, "invalid_grant"},
		"wrong":                             {"app-client", "alice", "nope", 400, "invalid_grant"},
		"another user's":                    {"app-client", "alice", "bob-app-pw", 400, "invalid_grant"},
		"unknown user":                      {"app-client", "mallory", "alice-app-pw", 400, "invalid_grant"},
		"unknown client":                    {"nope", "alice", "alice-app-pw", 401, "invalid_client"},
		"no password":                       {"app-client", "alice", "", 400, "invalid_request"},
		"not in allowed_groups":             {"restricted-client", "bob", "bob-app-pw", 400, "invalid_grant"},
	} {
		t.Run(name, func(t *testing.T) {
			st, m := cc(tc.client, tc.user, tc.pass)
			if st != tc.status || m["error"] != tc.err || m["access_token"] != nil {
				t.Errorf("%s: %d %v", name, st, m)
			}
		})
	}
	if st, m := cc("restricted-client", "alice", "alice-app-pw"); st != 200 {
		t.Errorf("admin at restricted: %d %v", st, m)
	}
}

// allowed_groups is the application's policy: others get an error page and
// no code, even with a valid SSO session.
func TestAllowedGroups(t *testing.T) {
	c := newIDPCore(t, nil)
	r := authRequest{clientID: "restricted-client", redirectURI: restrictRedirect, state: "s", verifier: newVerifier()}

	b := c.browser()
	action, fields := c.getForm(b, c.authorizeURL(r))
	resp := c.submit(b, action, fields, "bob", "bob-pw")
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" || !strings.Contains(page, "Access denied") {
		t.Errorf("bob at restricted: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// bob is signed in to the devcore though, and may use the app he is allowed.
	a := appRequest()
	resp, err := b.Get(c.authorizeURL(a))
	if err != nil {
		t.Fatal(err)
	}
	codeFrom(t, resp, a.redirectURI, a.state)
	// A second try at restricted with the session: still no code.
	resp, err = b.Get(c.authorizeURL(r))
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob again: %d", resp.StatusCode)
	}

	tok := c.mustExchange(r, c.login(c.browser(), r, "alice", "alice-pw"), restrictedSecret)
	verifyJWT(t, str(tok, "access_token"), restrictedSecret, c.ts.URL+"/application/o/restricted/", "restricted-client")
}

func TestIntrospection(t *testing.T) {
	c := newIDPCore(t, nil)
	a := appRequest()
	tok := c.mustExchange(a, c.login(c.browser(), a, "alice", "alice-pw"), appSecret)
	access := str(tok, "access_token")

	st, m := c.introspect("app-client", appSecret, access)
	if st != 200 || m["active"] != true || m["client_id"] != "app-client" || m["scope"] != "openid email profile entitlements ak_proxy" ||
		m["preferred_username"] != "alice" || m["sub"] != sha256Hex("alice-devcore") || m["sid"] == nil || m["ak_proxy"] == nil {
		t.Errorf("active introspection: %d %v", st, m)
	}
	// client_secret_basic
	st, m, _ = c.post("/application/o/introspect/", url.Values{"token": {access}}, func(r *http.Request) { r.SetBasicAuth("app-client", appSecret) })
	if st != 200 || m["active"] != true {
		t.Errorf("basic: %d %v", st, m)
	}
	for name, tc := range map[string]struct {
		id, secret, token string
		status            int
	}{
		"wrong secret":    {"app-client", "nope", access, 401},
		"no secret":       {"app-client", "", access, 401},
		"unknown client":  {"who", appSecret, access, 401},
		"other client":    {"other-client", otherSecret, access, 200},
		"garbage":         {"app-client", appSecret, "not-a-token", 200},
		"empty":           {"app-client", appSecret, "", 200},
		"id_token is not": {"app-client", appSecret, str(tok, "id_token"), 200},
	} {
		t.Run(name, func(t *testing.T) {
			st, m := c.introspect(tc.id, tc.secret, tc.token)
			if st != tc.status || (st == 200 && (m["active"] != false || len(m) != 1)) || (st == 401 && m["error"] != "invalid_client") {
				t.Errorf("%s: %d %v", name, st, m)
			}
		})
	}
	c.advance(3601 * time.Second)
	if _, m := c.introspect("app-client", appSecret, access); m["active"] != false {
		t.Errorf("expired token: %v", m)
	}
}

func TestUserinfo(t *testing.T) {
	c := newIDPCore(t, nil)
	a := appRequest()
	tok := c.mustExchange(a, c.login(c.browser(), a, "alice", "alice-pw"), appSecret)
	access := str(tok, "access_token")
	get := func(edit func(*http.Request), method, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, c.ts.URL+"/application/o/userinfo/", strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if edit != nil {
			edit(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(readBody(t, resp)), &m)
		return resp.StatusCode, m
	}
	st, m := get(func(r *http.Request) { r.Header.Set("Authorization", "bearer "+access) }, http.MethodGet, "")
	if st != 200 || m["sub"] != sha256Hex("alice-devcore") || m["email"] != "alice@example.com" ||
		m["nonce"] != a.nonce || !reflect.DeepEqual(m["groups"], []any{"ops", "admins"}) {
		t.Errorf("userinfo: %d %v", st, m)
	}
	if _, ok := m["iss"]; ok {
		t.Error("userinfo carries token claims")
	}
	st, m = get(nil, http.MethodPost, url.Values{"access_token": {access}}.Encode())
	if st != 200 || m["preferred_username"] != "alice" {
		t.Errorf("userinfo POST: %d %v", st, m)
	}
	for name, edit := range map[string]func(*http.Request){
		"none":          nil,
		"garbage":       func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") },
		"id_token":      func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+str(tok, "id_token")) },
		"basic":         func(r *http.Request) { r.SetBasicAuth("app-client", appSecret) },
		"refresh token": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+str(tok, "refresh_token")) },
	} {
		t.Run(name, func(t *testing.T) {
			if st, _ := get(edit, http.MethodGet, ""); st != 401 {
				t.Errorf("%s: %d, want 401", name, st)
			}
		})
	}
	// Without openid the token may not read userinfo.
	n := appRequest()
	n.scope = "email"
	tok = c.mustExchange(n, c.login(c.browser(), n, "alice", "alice-pw"), appSecret)
	if st, m := get(func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+str(tok, "access_token")) }, http.MethodGet, ""); st != 403 || m["error"] != "insufficient_scope" {
		t.Errorf("without openid: %d %v", st, m)
	}
}

// end-session ends the SSO session: SESSION_END with its sid, tokens under
// it revoked, the cookie cleared, and the next authorize shows the form.
func TestEndSession(t *testing.T) {
	c := newIDPCore(t, nil)
	b := c.browser()
	a := appRequest()
	a.scope += " offline_access"
	tok := c.mustExchange(a, c.login(b, a, "alice", "alice-pw"), appSecret)
	sid := sha256Hex(c.sessionKey(b))
	// A second browser of the same user keeps its session.
	b2 := c.browser()
	tok2 := c.mustExchange(a, c.login(b2, a, "alice", "alice-pw"), appSecret)

	resp, err := b.Get(c.ts.URL + "/application/o/app/end-session/?id_token_hint=" + url.QueryEscape(str(tok, "id_token")))
	if err != nil {
		t.Fatal(err)
	}
	page := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(page, "Signed out") || !strings.Contains(page, "You have been signed out.") {
		t.Errorf("end-session: %d\n%s", resp.StatusCode, page)
	}
	if got := c.endedSIDs(); !slices.Equal(got, []string{sid}) {
		t.Errorf("sessions ended %v, want [%s]", got, sid)
	}
	if c.sessionKey(b) != "" {
		t.Error("core session cookie not cleared")
	}
	if _, m := c.introspect("app-client", appSecret, str(tok, "access_token")); m["active"] != false {
		t.Errorf("access token of the ended session still active: %v", m)
	}
	st, m, _ := c.post("/application/o/token/", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {str(tok, "refresh_token")},
		"client_id": {"app-client"}, "client_secret": {appSecret},
	}, nil)
	if st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("refresh of the ended session: %d %v", st, m)
	}
	if _, m := c.introspect("app-client", appSecret, str(tok2, "access_token")); m["active"] != true {
		t.Errorf("the other browser's session suffered: %v", m)
	}
	c.getForm(b, c.authorizeURL(appRequest())) // the form again

	// Signing out again: nothing to end, no SESSION_END; a bad hint is fine.
	resp, err = b.Get(c.ts.URL + "/application/o/app/end-session/?id_token_hint=garbage")
	if err != nil {
		t.Fatal(err)
	}
	if page := readBody(t, resp); resp.StatusCode != 200 || !strings.Contains(page, "No one was signed in") {
		t.Errorf("second end-session: %d", resp.StatusCode)
	}
	if len(c.endedSIDs()) != 1 {
		t.Errorf("sessions ended %v", c.endedSIDs())
	}

	// post_logout_redirect_uri: followed only when registered.
	for target, follow := range map[string]bool{
		"https://app.example.com":         true,
		"https://app.example.com/":        true,
		appRedirect:                       true,
		"https://evil.example.com/":       false,
		"https://app.example.com.evil/":   false,
		"https://app.example.com/other":   false,
		"//evil.example.com":              false,
		"https://other.example.com/":      false,
		"javascript:alert(1)":             false,
		"https://app.example.com@evil.io": false,
	} {
		t.Run(target, func(t *testing.T) {
			resp, err := c.browser().Get(c.ts.URL + "/application/o/app/end-session/?state=xyz&post_logout_redirect_uri=" + url.QueryEscape(target))
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			loc := resp.Header.Get("Location")
			switch {
			case follow && (resp.StatusCode != 302 || !strings.HasPrefix(loc, target) || !strings.HasSuffix(loc, "state=xyz")):
				t.Errorf("%s: %d %q, want a redirect there", target, resp.StatusCode, loc)
			case !follow && (resp.StatusCode != 200 || loc != ""):
				t.Errorf("%s: %d %q, want no redirect", target, resp.StatusCode, loc)
			}
		})
	}
	resp, err = c.browser().Get(c.ts.URL + "/application/o/nope/end-session/")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != 404 {
		t.Errorf("unknown slug: %d", resp.StatusCode)
	}
}

// A new login replaces the browser's previous core session.
func TestLoginReplacesSession(t *testing.T) {
	c := newIDPCore(t, nil)
	b := c.browser()
	a := appRequest()
	c.login(b, a, "alice", "alice-pw")
	old := sha256Hex(c.sessionKey(b))
	a.extra = url.Values{"prompt": {"login"}}
	action, fields := c.getForm(b, c.authorizeURL(a))
	codeFrom(t, c.submit(b, action, fields, "bob", "bob-pw"), a.redirectURI, a.state)
	if got := c.endedSIDs(); !slices.Equal(got, []string{old}) {
		t.Errorf("ended %v, want the replaced session %s", got, old)
	}
}

func TestAdminEndSessions(t *testing.T) {
	c := newIDPCore(t, nil)
	var aliceSIDs []string
	for range 2 {
		b := c.browser()
		c.login(b, appRequest(), "alice", "alice-pw")
		aliceSIDs = append(aliceSIDs, sha256Hex(c.sessionKey(b)))
	}
	bob := c.browser()
	c.login(bob, appRequest(), "bob", "bob-pw")

	call := func(user, token string) (int, map[string]any) {
		st, m, _ := c.post("/api/devcore/users/"+user+"/end-sessions", nil, func(r *http.Request) {
			if token != "" {
				r.Header.Set("Authorization", "Bearer "+token)
			}
		})
		return st, m
	}
	for _, tok := range []string{"", "wrong", outpostToken + "x"} {
		t.Run(tok, func(t *testing.T) {
			if st, _ := call("alice", tok); st != 403 {
				t.Errorf("token %q: %d, want 403", tok, st)
			}
		})
	}
	if len(c.endedSIDs()) != 0 {
		t.Fatal("sessions ended without authorization")
	}
	st, m := call("alice", outpostToken)
	if st != 200 || m["ended"] != float64(2) {
		t.Fatalf("end alice: %d %v", st, m)
	}
	got := c.endedSIDs()
	slices.Sort(got)
	slices.Sort(aliceSIDs)
	if !slices.Equal(got, aliceSIDs) {
		t.Errorf("ended %v, want %v", got, aliceSIDs)
	}
	// bob is still signed in: straight to a code.
	a := appRequest()
	resp, err := bob.Get(c.authorizeURL(a))
	if err != nil {
		t.Fatal(err)
	}
	codeFrom(t, resp, a.redirectURI, a.state)
	if st, m := call("alice", outpostToken); st != 200 || m["ended"] != float64(0) {
		t.Errorf("again: %d %v", st, m)
	}

	// With an admin token configured, outpost tokens no longer do.
	c2 := newIDPCore(t, func(cfg *Config) { cfg.AdminToken = "the-admin-token" })
	c2.login(c2.browser(), appRequest(), "bob", "bob-pw")
	st, _, _ = c2.post("/api/devcore/users/bob/end-sessions", nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+outpostToken) })
	if st != 403 {
		t.Errorf("outpost token with an admin token set: %d", st)
	}
	st, m, _ = c2.post("/api/devcore/users/bob/end-sessions", nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer the-admin-token") })
	if st != 200 || m["ended"] != float64(1) || len(c2.endedSIDs()) != 1 {
		t.Errorf("admin token: %d %v %v", st, m, c2.endedSIDs())
	}
}

// A config reload keeps core sessions and tokens; a user removed by it is
// signed out.
func TestConfigReloadKeepsSessions(t *testing.T) {
	c := newIDPCore(t, nil)
	b := c.browser()
	a := appRequest()
	tok := c.mustExchange(a, c.login(b, a, "alice", "alice-pw"), appSecret)
	bob := c.browser()
	c.login(bob, appRequest(), "bob", "bob-pw")
	bobSID := sha256Hex(c.sessionKey(bob))

	next := testConfig(t)
	next.Users = next.Users[:1] // bob leaves
	next.Users[0].Email = "alice@new.example.com"
	if err := c.srv.SetConfig(next); err != nil {
		t.Fatal(err)
	}

	a = appRequest()
	resp, err := b.Get(c.authorizeURL(a))
	if err != nil {
		t.Fatal(err)
	}
	tok2 := c.mustExchange(a, codeFrom(t, resp, a.redirectURI, a.state), appSecret)
	if at := verifyJWT(t, str(tok2, "access_token"), appSecret, c.ts.URL+"/application/o/app/", "app-client"); at["email"] != "alice@new.example.com" {
		t.Errorf("claims not from the new config: %v", at["email"])
	}
	if _, m := c.introspect("app-client", appSecret, str(tok, "access_token")); m["active"] != true {
		t.Errorf("token lost in the reload: %v", m)
	}
	c.getForm(bob, c.authorizeURL(appRequest()))
	if !slices.Contains(c.endedSIDs(), bobSID) {
		t.Errorf("removed user's session not ended: %v", c.endedSIDs())
	}
}

// Expired core sessions are swept, and their end is announced.
func TestSessionExpiry(t *testing.T) {
	c := newIDPCore(t, nil)
	b := c.browser()
	c.login(b, appRequest(), "alice", "alice-pw")
	sid := sha256Hex(c.sessionKey(b))
	c.advance(coreSessionTTL + time.Minute)
	// Any request touching the state sweeps.
	c.introspect("app-client", appSecret, "x")
	if !slices.Equal(c.endedSIDs(), []string{sid}) {
		t.Errorf("ended %v, want the expired %s", c.endedSIDs(), sid)
	}
	c.getForm(b, c.authorizeURL(appRequest()))
	c.srv.idp.mu.Lock()
	n := len(c.srv.idp.st.sessions) + len(c.srv.idp.st.codes) + len(c.srv.idp.st.tokens) + len(c.srv.idp.st.grants)
	c.srv.idp.mu.Unlock()
	if n != 0 {
		t.Errorf("%d entries left after everything expired", n)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	c := newIDPCore(t, nil)
	req, _ := http.NewRequest(http.MethodGet, c.ts.URL+"/application/o/app/.well-known/openid-configuration", nil)
	req.Host = "sso.example.test"
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(readBody(t, resp)), &doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("discovery: %d %v", resp.StatusCode, err)
	}
	base := "https://sso.example.test/application/o/"
	for k, v := range map[string]any{
		"issuer": base + "app/", "authorization_endpoint": base + "authorize/", "token_endpoint": base + "token/",
		"userinfo_endpoint": base + "userinfo/", "introspection_endpoint": base + "introspect/",
		"end_session_endpoint": base + "app/end-session/", "jwks_uri": base + "app/jwks/",
		"id_token_signing_alg_values_supported": []any{"HS256"},
		"code_challenge_methods_supported":      []any{"plain", "S256"},
		"scopes_supported":                      []any{"openid", "email", "profile", "entitlements", "ak_proxy", "offline_access"},
	} {
		if !reflect.DeepEqual(doc[k], v) {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	for _, k := range []string{"claims_supported", "grant_types_supported", "response_types_supported", "subject_types_supported", "token_endpoint_auth_methods_supported"} {
		if l, _ := doc[k].([]any); len(l) == 0 {
			t.Errorf("%s missing", k)
		}
	}
	resp, err = http.Get(c.ts.URL + "/application/o/app/jwks/")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != 200 || strings.TrimSpace(body) != `{"keys":[]}` {
		t.Errorf("jwks: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/application/o/nope/.well-known/openid-configuration", "/application/o/nope/jwks/"} {
		t.Run(p, func(t *testing.T) {
			resp, err := http.Get(c.ts.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != 404 {
				t.Errorf("%s: %d", p, resp.StatusCode)
			}
		})
	}
	// "other" has no slug configured: its name is the slug.
	resp, err = http.Get(c.ts.URL + "/application/o/other/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Errorf("default slug: %d", resp.StatusCode)
	}
}

// Many browsers at once, for the race detector.
func TestConcurrentLogins(t *testing.T) {
	c := newIDPCore(t, nil)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			user, pw := "alice", "alice-pw"
			if i%2 == 1 {
				user, pw = "bob", "bob-pw"
			}
			b := c.browser()
			a := appRequest()
			a.scope += " offline_access"
			tok := c.mustExchange(a, c.login(b, a, user, pw), appSecret)
			c.introspect("app-client", appSecret, str(tok, "access_token"))
			c.post("/application/o/token/", url.Values{
				"grant_type": {"refresh_token"}, "refresh_token": {str(tok, "refresh_token")},
				"client_id": {"app-client"}, "client_secret": {appSecret},
			}, nil)
			if i%3 == 0 {
				resp, err := b.Get(c.ts.URL + "/application/o/app/end-session/")
				if err == nil {
					readBody(t, resp)
				}
			}
		})
	}
	wg.Wait()
	if n := len(c.endedSIDs()); n != 4 {
		t.Errorf("%d sessions ended, want 4", n)
	}
}

// A client secret too short for HS256 is reported at authorize, before
// anyone types a password.
// A client secret too short for HS256 could not sign a single token: the
// configuration is refused up front, naming the provider and field, rather
// than failing at the first login.
func TestShortClientSecret(t *testing.T) {
	cfg := testConfig(t)
	cfg.Providers[1].ClientSecret = "too-short"
	_, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), `("other"): client_secret: must be at least 32 characters`) {
		t.Fatalf("New with a short client secret: %v", err)
	}
}
