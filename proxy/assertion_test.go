package proxy_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/outpost-dev/outpost/assertion"
	"github.com/outpost-dev/outpost/internal/redistest"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
	"github.com/redis/go-redis/v9"
)

// verifyingApp is an app that trusts nothing but the assertion: it
// verifies X-Outpost-Jwt-Assertion with go-oidc against the JWKS URL only
// (issuer and audience as the docs say) and answers 200 with the subject,
// or 401 with why.
type verifyingApp struct {
	*httptest.Server
	verifier atomic.Pointer[oidc.IDTokenVerifier]
	ok, bad  atomic.Int32
	mu       sync.Mutex
	last     string // the last assertion received
	lastErr  error
}

func newVerifyingApp(t *testing.T) *verifyingApp {
	a := &verifyingApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get(assertion.DefaultHeader)
		a.mu.Lock()
		a.last = tok
		a.mu.Unlock()
		v := a.verifier.Load()
		if v == nil || tok == "" {
			a.bad.Add(1)
			http.Error(w, "no assertion", http.StatusUnauthorized)
			return
		}
		idt, err := v.Verify(r.Context(), tok)
		if err != nil {
			a.bad.Add(1)
			a.mu.Lock()
			a.lastErr = err
			a.mu.Unlock()
			http.Error(w, "refused: "+err.Error(), http.StatusUnauthorized)
			return
		}
		var c struct {
			Email    string   `json:"email"`
			Username string   `json:"preferred_username"`
			Groups   []string `json:"groups"`
		}
		_ = idt.Claims(&c)
		a.ok.Add(1)
		fmt.Fprintf(w, "verified %s %s %s %v", idt.Subject, c.Username, c.Email, c.Groups)
	}))
	t.Cleanup(a.Close)
	return a
}

// trust makes the app verify against the JWKS at jwksURL for issuer and
// audience.
func (a *verifyingApp) trust(issuer, audience, jwksURL string) {
	keys := oidc.NewRemoteKeySet(context.Background(), jwksURL)
	a.verifier.Store(oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{"ES256"}}))
}

func (a *verifyingApp) lastAssertion() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func assertionOn(lifetime, rotate time.Duration) *proxy.AssertionOptions {
	d := assertion.Defaults()
	d.Enabled = true
	return &proxy.AssertionOptions{Defaults: d, Lifetime: lifetime, Rotate: rotate}
}

// Proxy mode: a signed-in request reaches the app with an assertion the
// app verifies from the JWKS URL alone; both JWKS paths serve the keys;
// a client's own assertion never arrives.
func TestAssertionInProxyMode(t *testing.T) {
	app := newVerifyingApp(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: app.URL,
		assertion: assertionOn(0, 0)})
	app.trust(st.outpost, st.outpost, st.outpost+"/.well-known/jwks.json")
	c := browser(t)
	body := readBody(signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"))
	if !strings.HasPrefix(body, "verified ") || !strings.Contains(body, "alice alice@example.com [ops]") {
		t.Fatalf("the app answered %q", body)
	}
	for _, path := range []string{"/.well-known/jwks.json", "/outpost.goauthentik.io/jwks"} {
		resp, err := http.Get(st.outpost + path)
		if err != nil {
			t.Fatal(err)
		}
		b := readBody(resp)
		if resp.StatusCode != 200 || !strings.Contains(b, `"kty":"EC"`) || strings.Contains(b, `"d":`) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}

	// A client's assertion, in every spelling, is removed: the app gets
	// the outpost's, or none on a skipped path.
	cookie := cookieLine(t, c, st.outpost)
	addr := strings.TrimPrefix(st.outpost, "http://")
	forged := forgedAssertion(t)
	for _, name := range []string{"X-Outpost-Jwt-Assertion", "x-outpost-jwt-assertion", "X-OUTPOST-JWT-ASSERTION", "X_Outpost_Jwt_Assertion", "X.Outpost.Jwt.Assertion"} {
		for _, path := range []string{"/page", "/public/page"} {
			t.Run(name+" "+path, func(t *testing.T) {
				cookieHdr := "Cookie: " + cookie + "\r\n"
				if strings.HasPrefix(path, "/public/") {
					cookieHdr = ""
				}
				raw := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + cookieHdr + name + ": " + forged + "\r\nConnection: close\r\n\r\n"
				resp, body := rawRequest(t, addr, raw)
				got := app.lastAssertion()
				if got == forged {
					t.Fatalf("the client's assertion reached the app (%d %s)", resp.StatusCode, body)
				}
				if path == "/page" && (resp.StatusCode != 200 || !strings.HasPrefix(body, "verified ")) {
					t.Errorf("signed in: %d %s", resp.StatusCode, body)
				}
				if path == "/public/page" && got != "" {
					t.Errorf("a skipped path got an assertion %q", got)
				}
			})
		}
	}
}

// forgedAssertion is a well-formed assertion for admin signed with a key
// of the attacker's.
func forgedAssertion(t *testing.T) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(fmt.Sprintf(`{"iss":"x","aud":"x","sub":"admin","exp":%d}`, time.Now().Add(time.Hour).Unix())))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jws.CompactSerialize()
	return tok
}

// What the app refuses: the outpost's assertion changed, expired, for
// another app, or signed by another key under the outpost's kid.
func TestAppRefusesBadAssertions(t *testing.T) {
	app := newVerifyingApp(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: app.URL,
		secondApp: true, assertion: assertionOn(2*time.Second, time.Hour)})
	app.trust(st.outpost, st.outpost, st.outpost+"/outpost.goauthentik.io/jwks")
	c := resolvingBrowser(t, ".localhost")
	readBody(signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"))
	good := app.lastAssertion()
	// app-b's assertion (app-b's upstream is the stack's recorder): same
	// keys, another audience.
	resp := getPage(t, c, "http://"+st.appB+"/")
	if resp.Request.URL.Host != st.appB {
		resp = signIn(t, c, resp, "alice", "alice-pw")
	}
	readBody(resp)
	otherAud := ""
	st.mu.Lock()
	if n := len(st.upstream); n > 0 {
		otherAud = st.upstream[n-1].Header.Get(assertion.DefaultHeader)
	}
	st.mu.Unlock()
	if otherAud == good || otherAud == "" {
		t.Fatal("no assertion from app-b")
	}
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	changed := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"sub":"`, `"sub":"x`, 1))) + "." + parts[2]
	// Another key, under the outpost's kid.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	kid := strings.Split(strings.Split(string(header), `"kid":"`)[1], `"`)[0]
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	jws, _ := signer.Sign(payload)
	otherKey, _ := jws.CompactSerialize()
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	send := func(tok string) (int, string) {
		req, _ := http.NewRequest("GET", app.URL+"/", nil)
		req.Header.Set(assertion.DefaultHeader, tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readBody(resp)
	}
	if code, body := send(good); code != 200 {
		t.Fatalf("the genuine assertion is refused: %d %s", code, body)
	}
	for name, tok := range map[string]string{
		"changed claims": changed, "other audience": otherAud, "other key": otherKey, "alg none": none, "forged": forgedAssertion(t),
	} {
		t.Run(name, func(t *testing.T) {
			if code, body := send(tok); code != 401 {
				t.Errorf("accepted: %d %s", code, body)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, _ := send(good)
			if code == 401 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("an assertion with a 2 s lifetime still verifies after 10 s")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

// A signing failure never opens a path: with a key store that cannot
// answer, a signed-in request is refused with 503 and the app never sees
// it.
func TestAssertionSigningFailureRefuses(t *testing.T) {
	ln := reserve(t)
	dead := ln.Addr().String()
	ln.Close()
	down, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: dead, MaxRetries: -1, DialTimeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = down.Close() })
	app := newVerifyingApp(t)
	o := assertionOn(0, 0)
	o.KeyStore = down
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: app.URL, assertion: o})
	c := browser(t)
	resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw")
	body := readBody(resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("signing failed, yet %d: %.200s", resp.StatusCode, body)
	}
	if n := app.ok.Load() + app.bad.Load(); n != 0 {
		t.Errorf("the app received %d requests", n)
	}
	jwks, err := http.Get(st.outpost + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	readBody(jwks)
	if jwks.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("JWKS without keys: %d, want 503 (an empty set would be cached)", jwks.StatusCode)
	}
}

// Two replicas on one Redis behind one host, the key rotating every few
// seconds while requests flow to both: the app, which only knows replica
// A's JWKS URL, verifies every assertion, and sees more than one key.
func TestAssertionRotatesAcrossReplicasWithoutFailures(t *testing.T) {
	newStore := redisStores(t)
	app := newVerifyingApp(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: app.URL,
		store: newStore(), replicaStore: newStore(), assertion: assertionOn(2*time.Second, 4*time.Second)})
	app.trust(st.outpost, st.outpost, st.outpost+"/.well-known/jwks.json")
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"))
	replica := st.onReplica(c)
	kids := map[string]bool{}
	end := time.Now().Add(13 * time.Second)
	request := alternating(t, app, st.outpost+"/page", c, replica)
	n := 0
	for ; time.Now().Before(end); n++ {
		kids[request()] = true
		time.Sleep(20 * time.Millisecond)
	}
	if bad := app.bad.Load(); bad != 0 {
		t.Errorf("%d verification failures", bad)
	}
	if len(kids) < 2 {
		t.Errorf("%d requests over three rotation periods were signed with %d key(s)", n, len(kids))
	}
}

// With a key file (OUTPOST_ASSERTION__KEY_FILE) two replicas sign with the
// file's keys, not the store's, and the operator's rotation through the
// file (the new key added second, then moved first) happens while
// requests alternate between them, with no verification failure.
func TestAssertionKeyFileAcrossReplicas(t *testing.T) {
	newStore := redisStores(t)
	oldKey, newKey := p256Key(t), p256Key(t)
	path := filepath.Join(t.TempDir(), "assertion-keys.pem")
	writePEM(t, path, oldKey)
	opts := assertionOn(0, 0)
	opts.KeyFile = path
	app := newVerifyingApp(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: app.URL,
		store: newStore(), replicaStore: newStore(), assertion: opts})
	app.trust(st.outpost, st.outpost, st.outpost+"/outpost.goauthentik.io/jwks")
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"))
	replica := st.onReplica(c)
	request := alternating(t, app, st.outpost+"/page", c, replica)
	// until requests until both replicas' last assertions came from kid.
	until := func(kid string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for streak := 0; streak < 2; {
			if request() == kid {
				streak++
			} else {
				streak = 0
			}
			if time.Now().After(deadline) {
				t.Fatalf("the replicas did not both sign with %s within 15 s", kid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	until(thumbprint(t, oldKey))
	writePEM(t, path, oldKey, newKey)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(readBody(mustGet(t, st.outpost+"/.well-known/jwks.json")), thumbprint(t, newKey)) {
		if request() != thumbprint(t, oldKey) {
			t.Fatal("the key added second signs")
		}
		if time.Now().After(deadline) {
			t.Fatal("the key added second was not published within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	writePEM(t, path, newKey, oldKey)
	until(thumbprint(t, newKey))
	if bad := app.bad.Load(); bad != 0 {
		t.Errorf("%d verification failures", bad)
	}
}

func p256Key(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writePEM writes keys as PKCS #8 PEM to path, replacing it at once.
func writePEM(t *testing.T, path string, keys ...*ecdsa.PrivateKey) {
	t.Helper()
	var b []byte
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// thumbprint is the kid the outpost gives k: its RFC 7638 thumbprint.
func thumbprint(t *testing.T, k *ecdsa.PrivateKey) string {
	t.Helper()
	tp, err := (&jose.JSONWebKey{Key: k.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// headerKid is the kid of a compact JWS.
func headerKid(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("assertion %q: %v", tok, err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatalf("assertion header %s: %v", b, err)
	}
	return hdr.Kid
}

func mustGet(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// redisStores starts a Redis and returns a maker of stores on it: the
// stores of replicas that share sessions.
func redisStores(t *testing.T) func() *session.RedisStore {
	srv := redistest.Start(t)
	return func() *session.RedisStore {
		s, err := session.NewRedisStore(session.RedisOptions{Client: &redis.Options{Addr: srv.Addr(), Password: srv.Password}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// alternating returns a function that GETs url through each client in
// turn, fails the test unless the app verified the assertion, and returns
// the kid that signed it.
func alternating(t *testing.T, app *verifyingApp, url string, clients ...*http.Client) func() string {
	n := 0
	return func() string {
		t.Helper()
		cl := clients[n%len(clients)]
		n++
		resp, err := cl.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(resp); resp.StatusCode != 200 || !strings.HasPrefix(body, "verified ") {
			t.Fatalf("request %d (client %d): %d %s", n, (n-1)%len(clients), resp.StatusCode, body)
		}
		return headerKid(t, app.lastAssertion())
	}
}
