// Package testissuer is a small OpenID Connect issuer for tests of
// standalone providers: discovery, RS256 keys, a login form, the
// authorization code flow with PKCE, introspection and userinfo, and
// users whose claims a test writes freely (groups as a string, two "@" in
// an email, unverified email...).
package testissuer

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/jwtsign"
)

// User is a person the issuer signs in; Claims go into every token.
type User struct {
	Password string
	Claims   map[string]any
}

// Issuer is a running issuer.
type Issuer struct {
	URL   string // the issuer identifier, no trailing slash
	key   *jwtsign.Key
	users map[string]User

	opts Options

	mu      sync.Mutex
	codes   map[string]grant
	revoked map[string]bool
	// refresh holds the live refresh tokens (refresh.go).
	refresh refreshState
	logouts []url.Values
	// endSession: discovery advertises /logout (AdvertiseEndSession).
	endSession bool
}

// AdvertiseEndSession makes discovery name an end_session_endpoint
// (RP-initiated logout) at /logout; call it before the first discovery.
func (is *Issuer) AdvertiseEndSession() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.endSession = true
}

type grant struct {
	user, clientID, nonce, challenge, redirectURI string
}

// Start runs an issuer with these users (by user name) on 127.0.0.1.
func Start(t testing.TB, users map[string]User) *Issuer {
	t.Helper()
	return StartWith(t, users, Options{})
}

// StartWith is Start with token lifetimes and refresh tokens as opts says.
func StartWith(t testing.TB, users map[string]User, opts Options) *Issuer {
	t.Helper()
	if opts.TokenLife <= 0 {
		opts.TokenLife = time.Hour
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jwtsign.NewKey(key, "k1")
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{key: signer, users: users, opts: opts, codes: map[string]grant{}, revoked: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /jwks", is.jwks)
	mux.HandleFunc("GET /authorize", is.loginForm)
	mux.HandleFunc("POST /authorize", is.login)
	mux.HandleFunc("POST /token", is.token)
	mux.HandleFunc("POST /introspect", is.introspect)
	mux.HandleFunc("GET /userinfo", is.userinfo)
	mux.HandleFunc("GET /logout", is.logout)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	return is
}

func (is *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	doc := map[string]any{
		"issuer": is.URL, "authorization_endpoint": is.URL + "/authorize", "token_endpoint": is.URL + "/token",
		"jwks_uri": is.URL + "/jwks", "userinfo_endpoint": is.URL + "/userinfo", "introspection_endpoint": is.URL + "/introspect",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	}
	is.mu.Lock()
	end := is.endSession
	is.mu.Unlock()
	if end {
		doc["end_session_endpoint"] = is.URL + "/logout"
	}
	writeJSON(w, 200, doc)
}

// logout is RP-initiated logout: it records the query and sends the
// browser to post_logout_redirect_uri, or says it is done.
func (is *Issuer) logout(w http.ResponseWriter, r *http.Request) {
	is.mu.Lock()
	is.logouts = append(is.logouts, r.URL.Query())
	is.mu.Unlock()
	if back := r.URL.Query().Get("post_logout_redirect_uri"); back != "" {
		http.Redirect(w, r, back, http.StatusFound)
		return
	}
	_, _ = w.Write([]byte("signed out at the issuer"))
}

// Logouts are the queries of the logouts the issuer was sent.
func (is *Issuer) Logouts() []url.Values {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]url.Values(nil), is.logouts...)
}

func (is *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, 200, jwtsign.Set(is.key))
}

// loginForm shows a form that carries the authorization request along, in
// the shape internal/webtest.SignIn fills.
func (is *Issuer) loginForm(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	b.WriteString(`<!doctype html><form method="post" action="/authorize">`)
	for _, k := range []string{"client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method"} {
		fmt.Fprintf(&b, `<input type="hidden" name="%s" value="%s">`, k, html.EscapeString(r.URL.Query().Get(k)))
	}
	b.WriteString(`<input name="username"><input name="password" type="password"></form>`)
	w.Header().Set("Content-Type", "text/html")
	_, _ = w.Write([]byte(b.String()))
}

func (is *Issuer) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", 400)
		return
	}
	u, ok := is.users[r.PostForm.Get("username")]
	if !ok || u.Password != r.PostForm.Get("password") || r.PostForm.Get("code_challenge_method") != "S256" {
		http.Error(w, "wrong user name or password", 403)
		return
	}
	code := randomString()
	is.mu.Lock()
	is.codes[code] = grant{user: r.PostForm.Get("username"), clientID: r.PostForm.Get("client_id"), nonce: r.PostForm.Get("nonce"),
		challenge: r.PostForm.Get("code_challenge"), redirectURI: r.PostForm.Get("redirect_uri")}
	is.mu.Unlock()
	sep := "?"
	if strings.Contains(r.PostForm.Get("redirect_uri"), "?") {
		sep = "&"
	}
	http.Redirect(w, r, r.PostForm.Get("redirect_uri")+sep+"code="+code+"&state="+url.QueryEscape(r.PostForm.Get("state")), http.StatusFound)
}

func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err == nil && r.PostForm.Get("grant_type") == "refresh_token" {
		is.refreshGrant(w, r)
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	clientID, _, ok := r.BasicAuth()
	if !ok {
		clientID = r.PostForm.Get("client_id")
	}
	is.mu.Lock()
	g, found := is.codes[r.PostForm.Get("code")]
	delete(is.codes, r.PostForm.Get("code"))
	is.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !found || g.clientID != clientID || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge || g.redirectURI != r.PostForm.Get("redirect_uri") {
		writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
		return
	}
	extra := map[string]any{"nonce": g.nonce}
	if is.opts.SignInClaims {
		at := time.Now()
		if !is.opts.SignedInAt.IsZero() {
			at = is.opts.SignedInAt
		}
		extra["auth_time"], extra["acr"] = at.Unix(), "pwd"
	}
	writeJSON(w, 200, is.tokenResponse(g.user, clientID, extra))
}

// tokenResponse is a token endpoint's answer for user: tokens living
// opts.TokenLife, and a fresh refresh token when opts.RefreshTokens.
func (is *Issuer) tokenResponse(user, clientID string, idExtra map[string]any) map[string]any {
	life := is.opts.TokenLife
	out := map[string]any{
		"access_token": is.Token(user, clientID, life), "id_token": is.sign(user, clientID, life, idExtra),
		"token_type": "Bearer", "expires_in": int(life / time.Second),
	}
	if is.opts.RefreshTokens {
		out["refresh_token"] = is.newRefreshToken(user, clientID)
		if is.opts.RefreshExpiresIn > 0 {
			out["refresh_expires_in"] = int(is.opts.RefreshExpiresIn / time.Second)
		}
	}
	return out
}

// Token is an access token (a JWT) for user, audience clientID.
func (is *Issuer) Token(user, clientID string, life time.Duration) string {
	return is.sign(user, clientID, life, map[string]any{"token_use": "access"})
}

func (is *Issuer) sign(user, clientID string, life time.Duration, extra map[string]any) string {
	now := time.Now()
	claims := map[string]any{"iss": is.URL, "sub": "sub-" + user, "aud": clientID, "azp": clientID,
		"iat": now.Unix(), "exp": now.Add(life).Unix(), "jti": randomString(), "preferred_username": user}
	maps.Copy(claims, is.users[user].Claims)
	maps.Copy(claims, extra)
	out, err := is.key.Sign(claims)
	if err != nil {
		panic(err)
	}
	return out
}

// Revoke makes introspection call token inactive.
func (is *Issuer) Revoke(token string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.revoked[token] = true
}

func (is *Issuer) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_request"})
		return
	}
	raw := r.PostForm.Get("token")
	claims, ok := is.verify(raw)
	is.mu.Lock()
	revoked := is.revoked[raw]
	is.mu.Unlock()
	if !ok || revoked {
		writeJSON(w, 200, map[string]any{"active": false})
		return
	}
	claims["active"] = true
	writeJSON(w, 200, claims)
}

func (is *Issuer) userinfo(w http.ResponseWriter, r *http.Request) {
	claims, ok := is.verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if !ok {
		w.WriteHeader(401)
		return
	}
	delete(claims, "aud")
	delete(claims, "exp")
	delete(claims, "iat")
	writeJSON(w, 200, claims)
}

func (is *Issuer) verify(raw string) (map[string]any, bool) {
	var claims map[string]any
	if err := is.key.Verify(raw, &claims); err != nil {
		return nil, false
	}
	if exp, _ := claims["exp"].(float64); time.Now().Unix() >= int64(exp) {
		return nil, false
	}
	return claims, true
}

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
