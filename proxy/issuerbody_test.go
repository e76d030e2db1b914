package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
)

// Issue 21, row 12: an issuer that answers discovery with hundreds of MB,
// or publishes 10,000 keys, must not cost the outpost memory or CPU
// without bound; the outpost refuses, says why, and never lets a token
// through.

// hostileIssuer serves discovery and a JWKS as a test configures them and
// counts what it managed to write.
type hostileIssuer struct {
	url string
	// discoveryPad, when set, pads discovery with this many bytes, told
	// in Content-Length when declare is set, else streamed until the
	// client hangs up.
	discoveryPad int64
	declare      bool
	// jwks is the JWKS document.
	jwks         []byte
	written      atomic.Int64
	jwksFetches  atomic.Int32
	discoveryHit atomic.Int32
}

func newHostileIssuer(t *testing.T, configure func(*hostileIssuer)) *hostileIssuer {
	h := &hostileIssuer{}
	configure(h)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		h.discoveryHit.Add(1)
		doc, _ := json.Marshal(map[string]any{
			"issuer": h.url, "authorization_endpoint": h.url + "/authorize", "token_endpoint": h.url + "/token",
			"jwks_uri": h.url + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
		if h.discoveryPad == 0 {
			_, _ = w.Write(doc)
			return
		}
		head := append(doc[:len(doc)-1], `,"pad":"`...)
		if h.declare {
			w.Header().Set("Content-Length", strconv.FormatInt(int64(len(head))+h.discoveryPad+2, 10))
		}
		_, _ = w.Write(head)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for sent := int64(0); sent < h.discoveryPad; sent += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				return // the outpost hung up
			}
			h.written.Add(int64(len(chunk)))
		}
		_, _ = w.Write([]byte(`"}`))
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		h.jwksFetches.Add(1)
		_, _ = w.Write(h.jwks)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// jwksOf publishes pub n times under distinct key ids.
func jwksOf(t *testing.T, pub any, alg string, n int) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for i := range n {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: fmt.Sprint("k", i), Algorithm: alg, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// outpostFor serves one standalone provider of iss through the real
// listener and returns its address and log.
func outpostFor(t *testing.T, iss string) (string, *proctest.Buffer) {
	t.Helper()
	logs := &proctest.Buffer{}
	ln := listen(t)
	external := "http://" + ln.Addr().String()
	srv := proxy.New(proxy.Options{Log: slog.New(slog.NewJSONHandler(logs, nil)), Version: "0.1.0"})
	front := proxy.NewHTTPServer(srv)
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })
	snap, err := outpostapi.ParseStatic([]byte(fmt.Sprintf(`
outpost: {name: standalone}
providers:
  - name: app
    external_host: %s
    internal_host: http://127.0.0.1:1
    issuer: %s
    client_id: app-client
    client_secret: app-secret
    cookie_secret: standalone-cookie-secret-0123
`, external, iss)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
	return external, logs
}

func TestIssuerDiscoveryBodyCapped(t *testing.T) {
	for _, tc := range []struct {
		name    string
		declare bool
		pad     int64
	}{
		{"5 MB announced in Content-Length", true, 5 << 20},
		{"400 MB streamed without a length", false, 400 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := newHostileIssuer(t, func(h *hostileIssuer) { h.discoveryPad, h.declare = tc.pad, tc.declare })
			external, logs := outpostFor(t, iss.url)
			client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Get(external + "/outpost.goauthentik.io/start")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				t.Errorf("sign-in with an oversized discovery: %d %s, want 502", resp.StatusCode, body)
			}
			if iss.discoveryHit.Load() == 0 {
				t.Fatal("discovery was never asked")
			}
			// Loopback buffers hold a few MB; far less than was offered.
			if w := iss.written.Load(); w > 16<<20 {
				t.Errorf("the outpost let the issuer write %d bytes", w)
			}
			if !strings.Contains(logs.String(), "accepted from an identity provider") {
				t.Errorf("no log line says the discovery was too large:\n%s", logs)
			}
			t.Logf("issuer wrote %d bytes before the outpost hung up", iss.written.Load())
		})
	}
}

func TestIssuerJWKSBounded(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		jwks []byte
		// refusal is what the log must say; "" when the JWKS is accepted.
		refusal string
	}{
		{"10,000 keys", jwksOf(t, &ecKey.PublicKey, "ES256", 10000), "accepted from an identity provider"},
		{"500 small keys under the size cap", jwksOf(t, &ecKey.PublicKey, "ES256", 500), "has 500 keys, more than the 100 accepted"},
		{"100 RSA keys, at the bound", jwksOf(t, &rsaKey.PublicKey, "RS256", 100), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss := newHostileIssuer(t, func(h *hostileIssuer) { h.jwks = tc.jwks })
			external, logs := outpostFor(t, iss.url)
			// A forged token naming no key id: go-oidc tries every key.
			tok := signJWT(t, forger, map[string]any{
				"iss": iss.url, "aud": "app-client", "sub": "mallory", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
			})
			for i := range 3 {
				req, _ := http.NewRequest("GET", external+"/", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				start := time.Now()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("forged Bearer token %d: %d, want 401", i, resp.StatusCode)
				}
				t.Logf("forged Bearer token %d refused in %s", i, time.Since(start).Round(time.Millisecond))
			}
			if n := iss.jwksFetches.Load(); n != 1 {
				t.Errorf("JWKS fetched %d times for 3 tokens, want 1", n)
			}
			if tc.refusal != "" && !strings.Contains(logs.String(), tc.refusal) {
				t.Errorf("no log line saying %q:\n%s", tc.refusal, logs)
			}
		})
	}
}

func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
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
