package jwtsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestKeysSignWhatTheirTypeImplies(t *testing.T) {
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name    string
		key     crypto.Signer
		wantAlg jose.SignatureAlgorithm
		wantErr string
	}{
		{"RSA 2048", rsa2048, jose.RS256, ""},
		{"RSA 1024", rsa1024, "", "1024 bits"},
		{"P-256", p256, jose.ES256, ""},
		{"P-384", p384, "", "P-256"},
		{"Ed25519", ed, "", "cannot sign"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKey(tc.key, "kid-1")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewKey: %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || k.Alg != tc.wantAlg {
				t.Fatalf("NewKey: %v, alg %q, want %q", err, k.Alg, tc.wantAlg)
			}
			tok, err := k.Sign(map[string]any{"sub": "alice"})
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := k.Verify(tok, &got); err != nil || got["sub"] != "alice" {
				t.Fatalf("Verify of its own token: %v, claims %v", err, got)
			}
			// One changed byte in the payload breaks the signature.
			parts := strings.Split(tok, ".")
			forged := parts[0] + "." + strings.ToUpper(parts[1][:1]) + strings.ToLower(parts[1][1:]) + "." + parts[2]
			if forged != tok {
				if err := k.Verify(forged, &got); err == nil {
					t.Fatal("a forged payload verified")
				}
			}
			// Another key of the same type does not verify it.
			other, _ := NewKey(otherKeyLike(t, tc.key), "kid-2")
			if err := other.Verify(tok, &got); err == nil {
				t.Fatal("another key verified the token")
			}
			set, _ := json.Marshal(Set(k))
			if !strings.Contains(string(set), `"kid":"kid-1"`) || !strings.Contains(string(set), `"alg":"`+string(tc.wantAlg)+`"`) || strings.Contains(string(set), `"d":`) {
				t.Fatalf("JWKS %s: want the public key with kid and alg, no private part", set)
			}
		})
	}
}

func otherKeyLike(t *testing.T, k crypto.Signer) crypto.Signer {
	t.Helper()
	if _, ok := k.(*rsa.PrivateKey); ok {
		o, _ := rsa.GenerateKey(rand.Reader, 2048)
		return o
	}
	o, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return o
}

func TestEmptySetIsAnEmptyList(t *testing.T) {
	b, _ := json.Marshal(Set(nil))
	if string(b) != `{"keys":[]}` {
		t.Fatalf("JWKS without keys: %s, want an empty list (some clients refuse null)", b)
	}
}
