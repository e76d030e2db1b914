package assertion_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/assertion"
)

// pemKey is priv as a PEM block of kind: "pkcs8", "sec1" or "pkcs1".
func pemKey(t *testing.T, priv any, kind string) string {
	t.Helper()
	var typ string
	var der []byte
	var err error
	switch kind {
	case "pkcs8":
		typ = "PRIVATE KEY"
		der, err = x509.MarshalPKCS8PrivateKey(priv)
	case "sec1":
		typ = "EC PRIVATE KEY"
		der, err = x509.MarshalECPrivateKey(priv.(*ecdsa.PrivateKey))
	case "pkcs1":
		typ = "RSA PRIVATE KEY"
		der = x509.MarshalPKCS1PrivateKey(priv.(*rsa.PrivateKey))
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func ecKey(t *testing.T, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKeyFile writes content to path atomically, as a Secret update
// does (a new file renamed over the old).
func writeKeyFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func TestKeyFileParsing(t *testing.T) {
	p256, p384, rsa2048, rsa1024 := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P384()), rsaKey(t, 2048), rsaKey(t, 1024)
	cert := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	encrypted := "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END EC PRIVATE KEY-----\n"
	cases := []struct {
		name, content, wantErr string
	}{
		{"PKCS #8 P-256", pemKey(t, p256, "pkcs8"), ""},
		{"SEC 1 P-256", pemKey(t, p256, "sec1"), ""},
		{"PKCS #1 RSA 2048", pemKey(t, rsa2048, "pkcs1"), ""},
		{"PKCS #8 RSA 2048", pemKey(t, rsa2048, "pkcs8"), ""},
		{"both kinds", pemKey(t, p256, "pkcs8") + pemKey(t, rsa2048, "pkcs1"), ""},
		{"P-384", pemKey(t, p384, "pkcs8"), "block 1 (PRIVATE KEY): an ECDSA key on P-384"},
		{"RSA 1024", pemKey(t, rsa1024, "pkcs1"), "block 1 (RSA PRIVATE KEY): an RSA key of 1024 bits"},
		{"a certificate", pemKey(t, p256, "pkcs8") + cert, "block 2 (CERTIFICATE): not a private key block"},
		{"encrypted", encrypted, "block 1 (EC PRIVATE KEY): encrypted or annotated"},
		{"empty", "", "no PEM private key"},
		{"not PEM", "hello\n", "no PEM block in the file"},
		{"text after the keys", pemKey(t, p256, "pkcs8") + "trailing\n", "text after block 1"},
		{"a damaged key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "block 1 (PRIVATE KEY):"},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".pem")
			writeKeyFile(t, path, tc.content)
			err := assertion.CheckKeyFile(path)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one with %q", err, tc.wantErr)
			}
		})
	}
	if err := assertion.CheckKeyFile(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing file was accepted")
	}
}

// fileKeys runs Keys over the key file at path.
func fileKeys(t *testing.T, path string, onError func()) *assertion.Keys {
	t.Helper()
	k, err := assertion.NewKeys(assertion.KeysOptions{File: path, Lifetime: time.Minute, OnError: onError})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// The operator's rotation through the file: the first key of an
// algorithm signs, every key is published; a new key added second is
// published without signing, moved first it signs (and the assertions
// cached under the old set are signed again); a file that stops parsing
// keeps the keys read before; an algorithm the file has no key for
// refuses.
func TestKeyFileRotation(t *testing.T) {
	a, b := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256())
	path := filepath.Join(t.TempDir(), "keys.pem")
	writeKeyFile(t, path, pemKey(t, a, "pkcs8"))
	errors := 0
	k := fileKeys(t, path, func() { errors++ })
	k.Want(context.Background(), assertion.ES256)
	s := assertion.NewSigner(k, 100, nil)
	id := assertion.Identity{Issuer: "https://a", Audience: "https://a", Subject: "alice"}
	sign := func() string {
		t.Helper()
		tok, err := s.Assertion(assertion.CacheKey{Session: "s", Audience: "https://a"}, assertion.ES256, id)
		if err != nil {
			t.Fatal(err)
		}
		return kidOf(t, tok)
	}
	refresh := func() error {
		t.Helper()
		return k.Refresh(context.Background())
	}
	kidA := sign()
	if got := kids(t, k.JWKS()); !slices.Equal(got, []string{kidA}) {
		t.Fatalf("JWKS %v, want the file's one key %s", got, kidA)
	}

	t.Run("a new key added second is published, not signing", func(t *testing.T) {
		writeKeyFile(t, path, pemKey(t, a, "pkcs8")+pemKey(t, b, "sec1"))
		if err := refresh(); err != nil {
			t.Fatal(err)
		}
		if got := kids(t, k.JWKS()); len(got) != 2 || !slices.Contains(got, kidA) {
			t.Errorf("JWKS %v, want both keys", got)
		}
		if got := sign(); got != kidA {
			t.Errorf("signed with %s, want the first key %s", got, kidA)
		}
	})
	var kidB string
	t.Run("moved first, it signs at once", func(t *testing.T) {
		writeKeyFile(t, path, pemKey(t, b, "sec1")+pemKey(t, a, "pkcs8"))
		if err := refresh(); err != nil {
			t.Fatal(err)
		}
		if kidB = sign(); kidB == kidA {
			t.Errorf("still signed with the old key (a cached assertion of the old set)")
		}
	})
	t.Run("a broken file keeps the keys read before", func(t *testing.T) {
		writeKeyFile(t, path, "garbage")
		before := errors
		if err := refresh(); err == nil || !strings.Contains(err.Error(), "still sign") {
			t.Errorf("refresh: %v", err)
		}
		if errors == before {
			t.Error("the error was not counted")
		}
		if got := sign(); got != kidB {
			t.Errorf("signed with %s, want %s", got, kidB)
		}
	})
	t.Run("the old key removed is no longer published", func(t *testing.T) {
		writeKeyFile(t, path, pemKey(t, b, "sec1"))
		if err := refresh(); err != nil {
			t.Fatal(err)
		}
		if got := kids(t, k.JWKS()); !slices.Equal(got, []string{kidB}) {
			t.Errorf("JWKS %v, want only %s", got, kidB)
		}
	})
	t.Run("an algorithm without a key refuses", func(t *testing.T) {
		k.Want(context.Background(), assertion.RS256)
		if err := refresh(); err == nil || !strings.Contains(err.Error(), "no RS256 key") {
			t.Errorf("refresh: %v", err)
		}
		if _, err := s.Assertion(assertion.CacheKey{Session: "s"}, assertion.RS256, id); err == nil {
			t.Error("an RS256 assertion was signed with no RS256 key in the file")
		}
		if got := sign(); got != kidB {
			t.Errorf("ES256 stopped signing: %s", got)
		}
	})
}

// A key file that is unreadable at the first load leaves nothing to sign
// with: requests are refused, never passed without the assertion.
func TestKeyFileUnreadableAtStartRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.pem")
	writeKeyFile(t, path, "not a key")
	k := fileKeys(t, path, nil)
	k.Want(context.Background(), assertion.ES256)
	if k.Published() {
		t.Error("keys published from a broken file")
	}
	_, err := assertion.NewSigner(k, 100, nil).Assertion(assertion.CacheKey{Session: "s"}, assertion.ES256,
		assertion.Identity{Issuer: "https://a", Audience: "https://a", Subject: "alice"})
	if err == nil {
		t.Error("an assertion was signed without a key")
	}
}

// FuzzParseKeyFile: whatever a key file holds, parsing answers keys or an
// error, never a panic, and never keys with an error.
func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, err := assertion.ParseKeyFile(raw)
		if (err == nil) == (n == 0) {
			t.Fatalf("%d keys, error %v", n, err)
		}
	})
}
