package proxy

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
)

const hostileSecret = "hostile-idp-client-secret-0123456789abcdef"

// hostileIdP answers the token endpoint with whatever the test prepared for
// the code it is given, and records what the outpost sent.
type hostileIdP struct {
	srv       *httptest.Server
	mu        sync.Mutex
	responses map[string]map[string]any // code → token response
	verifiers []string
	calls     int
}

func newHostileIdP(t *testing.T) *hostileIdP {
	h := &hostileIdP{responses: map[string]map[string]any{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" || r.ParseForm() != nil {
			http.NotFound(w, r)
			return
		}
		h.mu.Lock()
		h.calls++
		h.verifiers = append(h.verifiers, r.PostForm.Get("code_verifier"))
		resp, ok := h.responses[r.PostForm.Get("code")]
		h.mu.Unlock()
		if !ok || r.PostForm.Get("client_secret") != hostileSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hostileIdP) issuer() string { return h.srv.URL + "/application/o/app/" }

func sign(t *testing.T, key []byte, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCallbackRefusesHostileTokens(t *testing.T) {
	idp := newHostileIdP(t)
	var upstreamHits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { upstreamHits.Add(1) }))
	defer up.Close()

	srv := New(Options{Log: discard(), Store: session.NewMemoryStore(session.MemoryOptions{}), Version: "0.1.0"})
	front := httptest.NewServer(srv)
	defer front.Close()
	p, perr := outpostapi.ValidateProvider(outpostapi.ProxyOutpostConfig{
		Name: "app", Mode: outpostapi.ModeProxy, ExternalHost: front.URL, InternalHost: up.URL,
		ClientID: "app-client", ClientSecret: hostileSecret, CookieSecret: "cookie-secret-0123456789",
		ScopesToRequest: []string{"openid"},
		OIDCConfiguration: outpostapi.OpenIDConnectConfiguration{
			Issuer: idp.issuer(), AuthorizationEndpoint: idp.srv.URL + "/authorize", TokenEndpoint: idp.srv.URL + "/token",
			IDTokenSigningAlgValuesSupported: []string{"HS256"},
		},
	}, "")
	if perr != nil {
		t.Fatal(perr)
	}
	if failed := srv.Update(&outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "o"}, Providers: []outpostapi.Provider{p}}); len(failed) > 0 {
		t.Fatal(failed)
	}
	cookieName := session.CookieName("app-client")

	// login starts a login in a fresh browser and returns its jar, the
	// state and the nonce the outpost put on the authorize URL.
	noFollow := func(jar http.CookieJar) *http.Client {
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	login := func() (http.CookieJar, string, string, string) {
		jar, _ := cookiejar.New(nil)
		resp, err := noFollow(jar).Get(front.URL + "/outpost.goauthentik.io/start?rd=%2Fdeep%3Fq%3D1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), idp.srv.URL+"/authorize?") {
			t.Fatalf("start: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := loc.Query()
		return jar, q.Get("state"), q.Get("nonce"), q.Get("code_challenge")
	}
	callback := func(jar http.CookieJar, code, state string) *http.Response {
		resp, err := noFollow(jar).Get(front.URL + "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true&code=" + code + "&state=" + url.QueryEscape(state))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	hasSession := func(resp *http.Response) bool {
		for _, c := range resp.Cookies() {
			if c.Name == cookieName && c.MaxAge > 0 {
				return true
			}
		}
		return false
	}
	base := func(nonce string) map[string]any {
		now := time.Now()
		return map[string]any{
			"iss": idp.issuer(), "aud": "app-client", "sub": "alice-sub", "preferred_username": "alice",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "nonce": nonce, "sid": "core-sid",
		}
	}
	key := []byte(hostileSecret)

	cases := []struct {
		name string
		tok  func(nonce string) string
		ok   bool
	}{
		{"valid (control)", func(n string) string { return sign(t, key, jose.HS256, base(n)) }, true},
		{"tampered payload", func(n string) string {
			good := strings.Split(sign(t, key, jose.HS256, base(n)), ".")
			c := base(n)
			c["preferred_username"] = "admin"
			evil, _ := json.Marshal(c)
			return good[0] + "." + base64.RawURLEncoding.EncodeToString(evil) + "." + good[2]
		}, false},
		{"expired", func(n string) string {
			c := base(n)
			c["exp"] = time.Now().Add(-time.Minute).Unix()
			return sign(t, key, jose.HS256, c)
		}, false},
		{"wrong audience", func(n string) string {
			c := base(n)
			c["aud"] = "other-app"
			return sign(t, key, jose.HS256, c)
		}, false},
		{"wrong issuer", func(n string) string {
			c := base(n)
			c["iss"] = "https://evil.example.com/application/o/app/"
			return sign(t, key, jose.HS256, c)
		}, false},
		{"wrong nonce", func(string) string { return sign(t, key, jose.HS256, base("another-login")) }, false},
		{"no nonce", func(string) string {
			c := base("")
			delete(c, "nonce")
			return sign(t, key, jose.HS256, c)
		}, false},
		{"wrong key", func(n string) string {
			return sign(t, []byte("some-other-secret-0123456789abcdef0123"), jose.HS256, base(n))
		}, false},
		{"alg none", func(n string) string {
			payload, _ := json.Marshal(base(n))
			return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jar, state, nonce, challenge := login()
			code := "code-" + strings.ReplaceAll(tc.name, " ", "-")
			idp.mu.Lock()
			idp.responses[code] = map[string]any{"access_token": tc.tok(nonce), "token_type": "Bearer", "expires_in": 300}
			idp.mu.Unlock()
			before := upstreamHits.Load()
			resp := callback(jar, code, state)
			idp.mu.Lock()
			verifier := idp.verifiers[len(idp.verifiers)-1]
			idp.mu.Unlock()
			sum := sha256.Sum256([]byte(verifier))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
				t.Errorf("the code_verifier sent does not match the S256 challenge")
			}
			if tc.ok {
				if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != front.URL+"/deep?q=1" || !hasSession(resp) {
					t.Fatalf("valid token refused: %d %s", resp.StatusCode, resp.Header.Get("Location"))
				}
				if resp.Header.Get("Referrer-Policy") != "no-referrer" {
					t.Errorf("the callback URL (code, state) may leak as Referer: %q", resp.Header.Get("Referrer-Policy"))
				}
				return
			}
			if resp.StatusCode != http.StatusUnauthorized || hasSession(resp) || upstreamHits.Load() != before {
				t.Errorf("accepted: %d, session=%v", resp.StatusCode, hasSession(resp))
			}
		})
	}

	// A replayed callback (same code and state, same browser) never reaches
	// the token endpoint again: the login attempt was spent.
	jar, state, nonce, _ := login()
	idp.mu.Lock()
	idp.responses["once"] = map[string]any{"access_token": sign(t, key, jose.HS256, base(nonce)), "token_type": "Bearer", "expires_in": 300}
	idp.mu.Unlock()
	if resp := callback(jar, "once", state); !hasSession(resp) {
		t.Fatalf("first callback: %d", resp.StatusCode)
	}
	idp.mu.Lock()
	calls := idp.calls
	idp.mu.Unlock()
	resp := callback(jar, "once", state)
	idp.mu.Lock()
	after := idp.calls
	idp.mu.Unlock()
	if after != calls || hasSession(resp) || !strings.HasPrefix(resp.Header.Get("Location"), idp.srv.URL+"/authorize?") {
		t.Errorf("replayed callback: token calls %d→%d, %d %s", calls, after, resp.StatusCode, resp.Header.Get("Location"))
	}
}
