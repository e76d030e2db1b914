package devcore

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// A provider with a signing_key signs with the key's algorithm, publishes
// the key in its JWKS and advertises it in discovery; without one, HS256
// and an empty JWKS, as before.
func TestSigningKeys(t *testing.T) {
	for _, tc := range []struct {
		name, certificate, signingKey, wantAlg string
		wantKeys                               int
	}{
		{"generated EC key: ES256", "  - name: k\n", "    signing_key: k\n", "ES256", 1},
		{"generated RSA key: RS256", "  - name: k\n    key_type: rsa\n", "    signing_key: k\n", "RS256", 1},
		{"no signing key: HS256", "  - name: k\n", "", "HS256", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte("certificates:\n" + tc.certificate + `providers:
  - name: app
    external_host: http://app.example
    internal_host: http://127.0.0.1:1
    client_id: app
    client_secret: app-secret-0123456789abcdef0123456789
    cookie_secret: cookie-secret-0123
` + tc.signingKey))
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			get := func(path string, v any) {
				t.Helper()
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://core.example"+path, nil))
				if rec.Code != 200 {
					t.Fatalf("%s: %d", path, rec.Code)
				}
				if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
					t.Fatal(err)
				}
			}
			var disc struct {
				Algs []string `json:"id_token_signing_alg_values_supported"`
			}
			get("/application/o/app/.well-known/openid-configuration", &disc)
			if len(disc.Algs) != 1 || disc.Algs[0] != tc.wantAlg {
				t.Errorf("discovery advertises %v, want %s", disc.Algs, tc.wantAlg)
			}
			var keys jose.JSONWebKeySet
			get("/application/o/app/jwks/", &keys)
			if len(keys.Keys) != tc.wantKeys {
				t.Fatalf("JWKS has %d keys, want %d", len(keys.Keys), tc.wantKeys)
			}
			pc := &cfg.Providers[0]
			tok, err := signToken(cfg, pc, map[string]any{"sub": "x"})
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tc.wantAlg)})
			if err != nil {
				t.Fatalf("token not %s: %v", tc.wantAlg, err)
			}
			if tc.wantKeys > 0 {
				// Verifiable with the published key alone, under its kid.
				k := keys.Keys[0]
				if jws.Signatures[0].Header.KeyID != k.KeyID || k.Algorithm != tc.wantAlg {
					t.Errorf("kid %q alg %q, JWKS kid %q alg %q", jws.Signatures[0].Header.KeyID, tc.wantAlg, k.KeyID, k.Algorithm)
				}
				if _, err := jws.Verify(k.Key); err != nil {
					t.Errorf("the JWKS key does not verify the token: %v", err)
				}
			}
			if c, err := verifyToken(cfg, pc, tok); err != nil || c["sub"] != "x" {
				t.Errorf("verifyToken: %v %v", c, err)
			}
		})
	}
}

// A key that cannot sign, or a key_type that does not exist, is refused at
// load with the field.
func TestSigningKeyRefused(t *testing.T) {
	for _, tc := range []struct{ name, certificate, want string }{
		{"unknown key type", "  - name: k\n    key_type: dsa\n", `certificates[0].key_type: "dsa": want ec or rsa`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte("certificates:\n" + tc.certificate + `providers:
  - name: app
    external_host: http://app.example
    internal_host: http://127.0.0.1:1
    client_id: app
    client_secret: short
    cookie_secret: cookie-secret-0123
    signing_key: k
`))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
