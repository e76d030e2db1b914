package proxy_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// testIssuer is an OpenID provider reduced to what back-channel logout
// needs from it: discovery and a JWKS with the key it signs with (k1 at
// first; publish rotates), counting the JWKS fetches.
type testIssuer struct {
	url string
	key *rsa.PrivateKey

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches int
	// down makes the JWKS answer 503.
	down bool
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss := &testIssuer{key: key, keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss.url, "authorization_endpoint": iss.url + "/authorize", "token_endpoint": iss.url + "/token",
			"jwks_uri": iss.url + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
			"backchannel_logout_supported": true, "backchannel_logout_session_supported": true,
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		iss.fetches++
		set, down := jose.JSONWebKeySet{Keys: iss.keys}, iss.down
		iss.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(set)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.url = srv.URL
	return iss
}

// publish makes the JWKS serve these public keys, by key id.
func (i *testIssuer) publish(keys map[string]*rsa.PrivateKey) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = nil
	for kid, k := range keys {
		i.keys = append(i.keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	}
}

// jwksDown makes the JWKS fail (or work again).
func (i *testIssuer) jwksDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// jwksFetches is how many times the JWKS was fetched.
func (i *testIssuer) jwksFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.fetches
}

func (i *testIssuer) sign(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	return i.signAs(t, key, "k1", claims)
}

// signAs signs with key under key id kid ("" for none).
func (i *testIssuer) signAs(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A standalone provider's issuer ends sessions with signed logout tokens;
// anything forged, replayed, misaddressed or not a logout token is refused
// and ends nothing.
// backchannelEnv is an outpost in standalone mode with one provider at a
// test issuer, its sessions in store: people sign in (signedIn), browse
// (served) and the issuer posts logout tokens (post) of claims it signs.
type backchannelEnv struct {
	iss      *testIssuer
	external string
	signedIn func(id, provider, sub, sid string) *http.Cookie
	served   func(ck *http.Cookie) bool
	post     func(token string) (int, string)
	// postFrom posts from the local address peer (127.0.0.x).
	postFrom func(peer, token string) (int, http.Header, string)
	claims   func(edit func(map[string]any)) map[string]any
	// logs is what the outpost logged (JSON lines).
	logs *proctest.Buffer
}

func newBackchannelEnv(t *testing.T, store session.Store) *backchannelEnv {
	t.Helper()
	return newBackchannelEnvWith(t, store, 0)
}

// newBackchannelEnvWith: keyRefresh, when not 0, is the least time between
// the outpost's JWKS fetches.
func newBackchannelEnvWith(t *testing.T, store session.Store, keyRefresh time.Duration) *backchannelEnv {
	t.Helper()
	iss := newTestIssuer(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(up.Close)
	outLn := listen(t)
	external := "http://" + outLn.Addr().String()
	logs := &proctest.Buffer{}
	srv := proxy.New(proxy.Options{Log: slog.New(slog.NewJSONHandler(logs, nil)), Store: store, Version: "0.1.0"})
	if keyRefresh != 0 {
		proxy.SetKeyRefreshInterval(srv, keyRefresh)
	}
	front := &http.Server{Handler: srv}
	go func() { _ = front.Serve(outLn) }()
	t.Cleanup(func() { _ = front.Close() })
	const cookieSecret = "standalone-cookie-secret-0123"
	snap, err := outpostapi.ParseStatic([]byte(fmt.Sprintf(`
outpost: {name: standalone}
providers:
  - name: app
    external_host: %s
    internal_host: %s
    issuer: %s
    client_id: app-client
    client_secret: app-secret
    cookie_secret: %s
`, external, up.URL, iss.url, cookieSecret)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
	codec, err := session.NewCodec(session.CookieOptions{ClientID: "app-client", CookieSecret: cookieSecret, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// signedIn saves a session as a login would and returns its cookie.
	signedIn := func(id, provider, sub, sid string) *http.Cookie {
		s := &session.Session{ID: id, Provider: provider, Sub: sub, SID: sid, Claims: map[string]any{"sub": sub, "sid": sid, "preferred_username": sub},
			CreatedAt: time.Now(), TokenExpiry: time.Now().Add(time.Hour), ExpiresAt: time.Now().Add(time.Hour)}
		if err := store.Save(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		ck, err := codec.Cookie(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return ck
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	served := func(ck *http.Cookie) bool {
		req, _ := http.NewRequest("GET", external+"/", nil)
		req.AddCookie(ck)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readBody(resp)
		return resp.StatusCode == 200
	}
	post := func(token string) (int, string) {
		resp, err := http.PostForm(external+"/outpost.goauthentik.io/backchannel-logout", url.Values{"logout_token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	postFrom := func(peer, token string) (int, http.Header, string) {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(peer)}}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		defer c.CloseIdleConnections()
		resp, err := c.PostForm(external+"/outpost.goauthentik.io/backchannel-logout", url.Values{"logout_token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header, string(b)
	}
	n := 0
	claims := func(edit func(map[string]any)) map[string]any {
		n++
		c := map[string]any{
			"iss": iss.url, "aud": "app-client", "iat": time.Now().Unix(), "exp": time.Now().Add(2 * time.Minute).Unix(),
			"jti": fmt.Sprint("jti-", n), "sid": "idp-session-1",
			"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
		}
		if edit != nil {
			edit(c)
		}
		return c
	}

	return &backchannelEnv{iss: iss, external: external, signedIn: signedIn, served: served, post: post, postFrom: postFrom, claims: claims, logs: logs}
}

func TestBackchannelLogout(t *testing.T) {
	store := session.NewMemoryStore(session.MemoryOptions{})
	defer store.Close()
	e := newBackchannelEnv(t, store)
	iss, external, signedIn, served, post, claims := e.iss, e.external, e.signedIn, e.served, e.post, e.claims
	alice := signedIn("alice-1", "app-client", "alice", "idp-session-1")
	aliceOther := signedIn("alice-2", "app-client", "alice", "idp-session-2")
	// Another provider's session with the same sid and sub: not this
	// issuer's to end.
	_ = signedIn("alice-3", "other-client", "alice", "idp-session-1")
	if !served(alice) || !served(aliceOther) {
		t.Fatal("sessions not served before the logout")
	}

	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	valid := iss.sign(t, iss.key, claims(nil))
	parts := strings.Split(valid, ".")
	refused := map[string]string{
		"tampered payload": parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2],
		"foreign key":      iss.sign(t, otherKey, claims(nil)),
		"wrong audience":   iss.sign(t, iss.key, claims(func(c map[string]any) { c["aud"] = "someone-else" })),
		"wrong issuer":     iss.sign(t, iss.key, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })),
		"nonce":            iss.sign(t, iss.key, claims(func(c map[string]any) { c["nonce"] = "n-0S6_WzA2Mj" })),
		"no events":        iss.sign(t, iss.key, claims(func(c map[string]any) { delete(c, "events") })),
		"other event":      iss.sign(t, iss.key, claims(func(c map[string]any) { c["events"] = map[string]any{"urn:other": map[string]any{}} })),
		"no sid nor sub":   iss.sign(t, iss.key, claims(func(c map[string]any) { delete(c, "sid") })),
		"no jti":           iss.sign(t, iss.key, claims(func(c map[string]any) { delete(c, "jti") })),
		"no iat":           iss.sign(t, iss.key, claims(func(c map[string]any) { delete(c, "iat") })),
		"old iat":          iss.sign(t, iss.key, claims(func(c map[string]any) { c["iat"] = time.Now().Add(-time.Hour).Unix() })),
		"expired":          iss.sign(t, iss.key, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })),
		"unsigned":         parts[0][:0] + "eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"empty":            "",
	}
	for name, tok := range refused {
		t.Run(name, func(t *testing.T) {
			code, body := post(tok)
			if code != http.StatusBadRequest || !strings.Contains(body, `"error":"invalid_request"`) {
				t.Errorf("%s: %d %s, want 400 with a JSON error", name, code, body)
			}
		})
	}
	if !served(alice) || !served(aliceOther) {
		t.Fatal("a refused logout token ended a session")
	}

	// The valid one ends exactly the session with that sid.
	if code, body := post(valid); code != http.StatusOK {
		t.Fatalf("valid logout token: %d %s", code, body)
	}
	if served(alice) {
		t.Error("the session named by sid is still served")
	}
	if !served(aliceOther) {
		t.Error("a session with another sid was ended")
	}
	if _, err := store.Get(t.Context(), "alice-3"); err != nil {
		t.Errorf("another provider's session was ended: %v", err)
	}
	// Replaying it is refused.
	if code, body := post(valid); code != http.StatusBadRequest || !strings.Contains(body, "replayed") {
		t.Errorf("replayed logout token: %d %s", code, body)
	}
	// By sub only: every session of alice at this provider.
	bySub := iss.sign(t, iss.key, claims(func(c map[string]any) { delete(c, "sid"); c["sub"] = "alice" }))
	if code, body := post(bySub); code != http.StatusOK {
		t.Fatalf("logout token by sub: %d %s", code, body)
	}
	if served(aliceOther) {
		t.Error("logout by sub left a session of the sub")
	}
	// Only POST.
	resp, err := http.Get(external + "/outpost.goauthentik.io/backchannel-logout?logout_token=" + url.QueryEscape(valid))
	if err != nil {
		t.Fatal(err)
	}
	readBody(resp)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

// Core providers end sessions over the websocket; the endpoint says so.
func TestBackchannelLogoutNotForCoreProviders(t *testing.T) {
	st := newStack(t)
	resp, err := http.PostForm(st.outpost+"/outpost.goauthentik.io/backchannel-logout", url.Values{"logout_token": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(resp)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "not_supported") || st.upstreamCount() != 0 {
		t.Errorf("core provider: %d %s", resp.StatusCode, body)
	}
}

// A logout the store could not carry out is answered 503 (try again); the
// session is refused from then on (the outpost retries the deletion), and
// the identity provider's retry of the same token is not taken for a
// replay. Redis refuses the deleting scripts (an ACL) while it still
// records the token's jti.
func TestBackchannelLogoutRetriedAfterStoreFailure(t *testing.T) {
	srv := redistest.Start(t)
	store := redisStore(t, srv)
	defer store.Close()
	e := newBackchannelEnv(t, store)
	bob := e.signedIn("bob-1", "app-client", "bob", "idp-session-9")
	if !e.served(bob) {
		t.Fatal("session not served before the logout")
	}
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer admin.Close()
	acl := func(rules ...any) {
		t.Helper()
		if err := admin.Do(t.Context(), append([]any{"ACL", "SETUSER", "default"}, rules...)...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	token := e.iss.sign(t, e.iss.key, e.claims(func(c map[string]any) { c["sid"] = "idp-session-9" }))
	acl("-eval", "-evalsha")
	if code, body := e.post(token); code != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily_unavailable") {
		t.Fatalf("logout while the store fails: %d %s, want 503", code, body)
	}
	if e.served(bob) {
		t.Fatal("the session is still served after a logout the store did not confirm")
	}
	acl("+@all")
	if code, body := e.post(token); code != http.StatusOK {
		t.Fatalf("the retried logout token: %d %s, want 200", code, body)
	}
	if e.served(bob) {
		t.Error("the session is still served after the retried logout")
	}
	if code, body := e.post(token); code != http.StatusBadRequest || !strings.Contains(body, "replayed") {
		t.Errorf("the token once more, after it ended the session: %d %s, want a replay refused", code, body)
	}
}
