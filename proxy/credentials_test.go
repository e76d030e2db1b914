package proxy_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/outpost-dev/outpost/internal/promtest"
)

// appToken gets tokens the way a script would: the client_credentials grant
// with an app password, straight at the core.
func appToken(t *testing.T, st *stack, clientID, user, password string) (access, id string) {
	t.Helper()
	resp, err := http.PostForm(st.core+"/application/o/token/", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID},
		"username": {user}, "password": {password}, "scope": {"openid email profile ak_proxy"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token for %s: %d %v %+v", clientID, resp.StatusCode, err, tok)
	}
	return tok.AccessToken, tok.IDToken
}

// call sends one request to the outpost for host (empty: app A) with the
// given Authorization and Accept, without following redirects.
func call(t *testing.T, st *stack, host, path, authorization, accept string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", st.outpost+path, nil)
	if host != "" {
		req.Host = host
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readBody(resp)
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// A token issued for app A opens app A, and app B refuses it (and the
// other way round): the audience binds a token to its application.
func TestBearerTokenBoundToItsApplication(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", secondApp: true})
	tokA, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
	tokB, _ := appToken(t, st, "app-b-client", "alice", "alice-app-pw")

	resp, body := call(t, st, "", "/private", "Bearer "+tokA, "application/json")
	if resp.StatusCode != 200 || !strings.Contains(body, `as "alice"`) {
		t.Fatalf("app A with its own token: %d %s", resp.StatusCode, body)
	}
	up := st.lastUpstream(t)
	if got := up.Header.Get("Authorization"); got != "" {
		t.Errorf("app A (intercept_header_auth on) received the client's credentials: %q", got)
	}
	if up.Header.Get("X-Authentik-Jwt") != tokA || up.Header.Get("X-Authentik-Email") != "alice@example.com" {
		t.Errorf("identity headers: jwt=%t email=%q", up.Header.Get("X-Authentik-Jwt") == tokA, up.Header.Get("X-Authentik-Email"))
	}

	for _, c := range []struct{ name, host, token string }{
		{"A's token at B", st.appB, tokA},
		{"B's token at A", "", tokB},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := call(t, st, c.host, "/private", "Bearer "+c.token, "application/json")
			if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) ||
				!strings.Contains(body, `"error":"invalid_token"`) {
				t.Errorf("%s: %d %q %s", c.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
		})
	}

	resp, body = call(t, st, st.appB, "/private", "Bearer "+tokB, "application/json")
	if resp.StatusCode != 200 || !strings.Contains(body, `as "alice"`) {
		t.Fatalf("app B with its own token: %d %s", resp.StatusCode, body)
	}
	if got := st.lastUpstream(t).Header.Get("Authorization"); got != "Bearer "+tokB {
		t.Errorf("app B (intercept_header_auth off) should receive the client's header, got %q", got)
	}
}

// resign returns token's claims changed by edit, signed with key (alg
// none when key is nil).
func resign(t *testing.T, token string, key []byte, edit func(map[string]any)) string {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	edit(claims)
	payload, _ := json.Marshal(claims)
	if key == nil {
		enc := base64.RawURLEncoding
		return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}

// Expired, tampered, unsigned, foreign and made-up tokens are refused with
// 401 + invalid_token; a browser sending one gets the 401 too, never a
// login page.
func TestRefusedBearerTokens(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]"})
	tok, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
	secret := []byte("app-client-secret-0123456789abcdef0123456789")
	parts := strings.Split(tok, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := strings.Replace(string(claims), `"alice"`, `"admin"`, 1)
	cases := map[string]string{
		"expired (signed with the real secret)": resign(t, tok, secret, func(c map[string]any) { c["exp"] = float64(time.Now().Add(-time.Minute).Unix()) }),
		"tampered payload":                      parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamperedPayload)) + "." + parts[2],
		"alg none":                              resign(t, tok, nil, func(map[string]any) {}),
		"signed with another key":               resign(t, tok, []byte("not-the-client-secret-0123456789abcdef"), func(map[string]any) {}),
		"another audience, real secret":         resign(t, tok, secret, func(c map[string]any) { c["aud"] = "someone-else" }),
		"made up":                               "0123456789abcdef",
	}
	if tamperedPayload == string(claims) {
		t.Fatal("test setup: the token names no alice to change")
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			for _, accept := range []string{"application/json", "text/html"} {
				resp, body := call(t, st, "", "/private", "Bearer "+bad, accept)
				if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `Bearer realm=`) ||
					!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("%s (Accept %s): %d %q %s", name, accept, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
				}
			}
		})
	}
	if n := st.upstreamCount(); n != 0 {
		t.Errorf("%d refused requests reached the app", n)
	}
	// The real token still works: nothing above poisoned the cache.
	if resp, body := call(t, st, "", "/private", "Bearer "+tok, ""); resp.StatusCode != 200 {
		t.Errorf("real token after the forgeries: %d %s", resp.StatusCode, body)
	}
}

// A token the core revokes (its session ended: introspection says
// inactive) stops working within the cache window.
func TestRevokedBearerTokenStopsWorking(t *testing.T) {
	const window = time.Second
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", credentialTTL: window})
	// A token from a browser sign-in belongs to a core session.
	c := browser(t)
	if resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"); resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	tok := st.lastUpstream(t).Header.Get("X-Authentik-Jwt")
	if resp, body := call(t, st, "", "/api", "Bearer "+tok, "application/json"); resp.StatusCode != 200 {
		t.Fatalf("bearer before revocation: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("POST", st.core+"/api/devcore/users/alice/end-sessions", nil)
	req.Header.Set("Authorization", "Bearer "+st.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("end-sessions: %v %v", resp, err)
	}
	resp.Body.Close()
	revoked := time.Now()
	for {
		resp, _ := call(t, st, "", "/api", "Bearer "+tok, "application/json")
		if resp.StatusCode == 401 {
			break
		}
		if time.Since(revoked) > window+5*time.Second {
			t.Fatalf("revoked token still accepted %s after revocation (window %s): %d", time.Since(revoked), window, resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Basic credentials: an app password, a token under goauthentik.io/token;
// wrong ones get 401 with a Basic challenge, never a login page.
func TestBasicCredentials(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]"})
	tok, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
	for name, auth := range map[string]string{
		"app password":         basic("alice", "alice-app-pw"),
		"goauthentik.io/token": basic("goauthentik.io/token", tok),
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := call(t, st, "", "/metrics", auth, "")
			if resp.StatusCode != 200 || !strings.Contains(body, `as "alice"`) {
				t.Errorf("%s: %d %s", name, resp.StatusCode, body)
				return
			}
			if got := st.lastUpstream(t).Header.Get("Authorization"); got != "" {
				t.Errorf("%s: the app received the client's credentials %q", name, got)
			}
		})
	}
	for name, auth := range map[string]string{
		"wrong password":                   basic("alice", "nope"),
		"another user's app password":      basic("mallory", "alice-app-pw"),
		"login password, not app password": basic("alice", "alice-pw"),
		"not base64":                       "Basic %%%",
		"no colon":                         "Basic " + base64.StdEncoding.EncodeToString([]byte("alice")),
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := call(t, st, "", "/metrics", auth, "text/html")
			if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic realm=") {
				t.Errorf("%s: %d %q %s", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
		})
	}
}

// The same path answers a browser with the login redirect and a machine
// with 401; intercept_header_auth off sends a browser with a foreign
// Authorization header to the login page and passes the header on.
func TestNegotiationBrowserVersusMachine(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", secondApp: true})
	resp, _ := call(t, st, "", "/graph", "", "text/html")
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "/outpost.goauthentik.io/start") {
		t.Errorf("browser: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for name, hdr := range map[string][2]string{
		"Accept: application/json": {"Accept", "application/json"},
		"X-Requested-With":         {"X-Requested-With", "XMLHttpRequest"},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", st.outpost+"/graph", nil)
			req.Header.Set(hdr[0], hdr[1])
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			var parsed map[string]any
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="`+strings.TrimPrefix(st.outpost, "http://")+`", resource_metadata="`+st.outpost+`/.well-known/oauth-protected-resource"` ||
				json.Unmarshal([]byte(body), &parsed) != nil {
				t.Errorf("%s: %d %q %s", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
		})
	}
	resp, _ = call(t, st, "", "/graph", "Token abc", "text/html")
	if resp.StatusCode != 401 || len(resp.Header.Values("WWW-Authenticate")) != 2 {
		t.Errorf("unsupported scheme: %d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
	}

	// App B leaves the Authorization header to the app.
	resp, _ = call(t, st, st.appB, "/graph", "Bearer app-own-api-key", "text/html")
	if resp.StatusCode != 302 {
		t.Errorf("app B, browser with the app's own header: %d, want the login redirect", resp.StatusCode)
	}
	resp, body := call(t, st, st.appB, "/public/api", "Bearer app-own-api-key", "application/json")
	if resp.StatusCode != 200 || st.lastUpstream(t).Header.Get("Authorization") != "Bearer app-own-api-key" {
		t.Errorf("app B skipped path: %d %s, upstream Authorization %q", resp.StatusCode, body, st.lastUpstream(t).Header.Get("Authorization"))
	}
	// The app's own API clients are never limited by the outpost's budget
	// of wrong credentials: past it, their header is simply not checked.
	for i := range 40 {
		resp, _ := call(t, st, st.appB, "/graph", fmt.Sprintf("Bearer app-own-api-key-%d", i), "text/html")
		if resp.StatusCode != 302 {
			t.Fatalf("app B's own API key, request %d: %d, want the sign-in redirect", i, resp.StatusCode)
		}
	}
	// App A strips it even on a skipped path.
	resp, _ = call(t, st, "", "/public/api", "Bearer app-own-api-key", "application/json")
	if resp.StatusCode != 200 || st.lastUpstream(t).Header.Get("Authorization") != "" {
		t.Errorf("app A skipped path: %d, upstream Authorization %q", resp.StatusCode, st.lastUpstream(t).Header.Get("Authorization"))
	}
}

// One token, many requests: the provider is asked once within the window;
// a refused token is not asked about again at once either.
func TestCredentialOutcomesAreCached(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]"})
	tok, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
	before := st.introspections.Load()
	for range 20 {
		if resp, body := call(t, st, "", "/api", "Bearer "+tok, "application/json"); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	if n := st.introspections.Load() - before; n != 1 {
		t.Errorf("20 requests with one token: %d introspections, want 1", n)
	}
	before = st.introspections.Load()
	for range 20 {
		if resp, _ := call(t, st, "", "/api", "Bearer opaque-and-wrong", "application/json"); resp.StatusCode != 401 {
			t.Fatalf("bad token: %d", resp.StatusCode)
		}
	}
	if n := st.introspections.Load() - before; n != 1 {
		t.Errorf("20 requests with one bad token: %d introspections, want 1", n)
	}
}

// Forward auth takes tokens too: nginx's auth_request passes the client's
// Authorization header, and the answer carries the identity.
func TestBearerThroughForwardAuth(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", mode: "forward_single", trusted: true})
	tok, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
	ask := func(auth string) *http.Response {
		req, _ := http.NewRequest("GET", st.outpost+"/outpost.goauthentik.io/auth/nginx", nil)
		req.Header.Set("X-Original-URL", st.outpost+"/dashboard")
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := ask("Bearer " + tok); resp.StatusCode != 200 || resp.Header.Get("X-Authentik-Username") != "alice" {
		t.Errorf("good token: %d user %q", resp.StatusCode, resp.Header.Get("X-Authentik-Username"))
	}
	if resp := ask("Bearer " + tok + "x"); resp.StatusCode != 401 || resp.Header.Get("X-Authentik-Username") != "" {
		t.Errorf("bad token: %d user %q", resp.StatusCode, resp.Header.Get("X-Authentik-Username"))
	}
}

// Debian's promtool reads a real Prometheus through the outpost with an
// app password or a token (this promtool sends credentials from the URL
// as Basic; the goauthentik.io/token user name carries a token); without
// credentials it is refused. A Go client sends the token as Bearer, as
// Grafana's Prometheus data source does.
func TestPromtoolThroughTheOutpost(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run ./scripts/install-test-deps.sh (Debian package prometheus)")
	}
	prom := promtest.Start(t, nil)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: "http://" + prom.Addr})
	tok, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
	base, _ := url.Parse(st.outpost)
	query := func(user *url.Userinfo) (string, error) {
		u := *base
		u.User = user
		out, err := exec.Command(promtool, "query", "instant", u.String(), `up{job="prometheus"}`).CombinedOutput()
		return string(out), err
	}
	for name, user := range map[string]*url.Userinfo{
		"app password": url.UserPassword("alice", "alice-app-pw"),
		"token":        url.UserPassword("goauthentik.io/token", tok),
	} {
		t.Run(name, func(t *testing.T) {
			deadline := time.Now().Add(30 * time.Second)
			for {
				out, err := query(user)
				if err == nil && strings.Contains(out, `up{instance="`+prom.Addr+`", job="prometheus"} => 1`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("promtool with %s: %v\n%s", name, err, out)
				}
				time.Sleep(250 * time.Millisecond) // Prometheus has not scraped itself yet
			}
		})
	}
	out, err := query(nil)
	if err == nil || !strings.Contains(out, "401") {
		t.Errorf("promtool without credentials: %v\n%s", err, out)
	}

	req, _ := http.NewRequest("GET", st.outpost+"/api/v1/query?query=up", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || resp.StatusCode != 200 || answer.Status != "success" {
		t.Errorf("bearer query: %d %v %+v", resp.StatusCode, err, answer)
	}
	resp.Body.Close()
}
