package assertion_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/outpost-dev/outpost/assertion"
	"github.com/outpost-dev/outpost/session"
)

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func privateJWK(t testing.TB, alg string) []byte {
	var key any
	var err error
	if alg == assertion.RS256 {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKey{Key: key, Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func publicJWK(t testing.TB) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey, Algorithm: assertion.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The assertion as an app reads it: verified with go-oidc against the
// JWKS alone, with every claim the docs promise and nothing else.
func TestAssertionClaims(t *testing.T) {
	k := newKeys(t, memoryStore(t), time.Hour, 2*time.Minute, nil)
	k.Want(context.Background(), assertion.ES256)
	srv := jwksServer(t, k)
	s := assertion.NewSigner(k, 0, nil)
	id := assertion.Identity{Issuer: "https://auth.example.com", Audience: "https://app.example.com", Subject: "u-1",
		Email: "alice@example.com", Name: "Alice", Username: "alice", Groups: []string{"ops", "admins"}}
	before := time.Now().Truncate(time.Second)
	tok, err := s.Assertion(assertion.CacheKey{Session: "s1", Audience: id.Audience, Version: "t1"}, assertion.ES256, id)
	if err != nil {
		t.Fatal(err)
	}
	v := oidc.NewVerifier(id.Issuer, oidc.NewRemoteKeySet(context.Background(), srv.URL), &oidc.Config{ClientID: id.Audience, SupportedSigningAlgs: []string{"ES256"}})
	verified, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("the app cannot verify the assertion: %v", err)
	}
	var got map[string]any
	if err := verified.Claims(&got); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]any{
		"iss": id.Issuer, "aud": id.Audience, "sub": "u-1", "email": "alice@example.com", "name": "Alice",
		"preferred_username": "alice", "groups": []any{"ops", "admins"},
	} {
		if fmt.Sprint(got[name]) != fmt.Sprint(want) {
			t.Errorf("claim %s = %v, want %v", name, got[name], want)
		}
	}
	iat, exp := int64(got["iat"].(float64)), int64(got["exp"].(float64))
	if iat < before.Unix() || exp-iat != 120 {
		t.Errorf("iat %d exp %d: want iat ≥ %d and a lifetime of 120 s", iat, exp, before.Unix())
	}
	if jti, _ := got["jti"].(string); len(jti) < 16 {
		t.Errorf("jti %q: want a random id", jti)
	}
	if len(got) != 10 {
		t.Errorf("claims %v: want exactly iss aud sub email groups name preferred_username iat exp jti", got)
	}
}

// A session is signed for once, then served from the cache while it has
// more than a fifth of its life; a new version (a refreshed session), a
// new audience or a due renewal signs again.
func TestAssertionCache(t *testing.T) {
	c := newClock(time.Now())
	k := newKeys(t, memoryStore(t), time.Hour, 5*time.Minute, c.now)
	k.Want(context.Background(), assertion.ES256)
	results := map[string]int{}
	s := assertion.NewSigner(k, 0, func(r string) { results[r]++ })
	id := assertion.Identity{Issuer: "https://a", Audience: "https://a", Subject: "alice"}
	key := assertion.CacheKey{Session: "s1", Audience: "https://a", Version: "token-1"}
	get := func(key assertion.CacheKey) string {
		t.Helper()
		tok, err := s.Assertion(key, assertion.ES256, id)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := get(key)
	if again := get(key); again != first {
		t.Error("the second request signed again")
	}
	refreshed := key
	refreshed.Version = "token-2"
	if get(refreshed) == first {
		t.Error("a refreshed session got the assertion of its old claims")
	}
	other := key
	other.Audience = "https://b"
	if get(other) == first {
		t.Error("another audience got the same assertion")
	}
	c.add(4*time.Minute + 10*time.Second)
	if get(refreshed) == first {
		t.Error("an assertion due for renewal was served")
	}
	if results[assertion.ResultSigned] != 4 || results[assertion.ResultCached] != 1 {
		t.Errorf("results %v: want 4 signed, 1 cached", results)
	}
}

// The cache never holds more than its bound, whatever the number of
// sessions.
func TestAssertionCacheBounded(t *testing.T) {
	k := newKeys(t, memoryStore(t), time.Hour, 5*time.Minute, nil)
	k.Want(context.Background(), assertion.ES256)
	const bound = 100
	s := assertion.NewSigner(k, bound, nil)
	id := assertion.Identity{Issuer: "https://a", Audience: "https://a", Subject: "alice"}
	for i := range 1000 {
		if _, err := s.Assertion(assertion.CacheKey{Session: fmt.Sprint(i)}, assertion.ES256, id); err != nil {
			t.Fatal(err)
		}
	}
	if n := assertion.CacheLen(s); n > bound {
		t.Errorf("cache holds %d assertions, bound %d", n, bound)
	}
	// The latest sessions are still served from it.
	tok1, _ := s.Assertion(assertion.CacheKey{Session: "999"}, assertion.ES256, id)
	tok2, _ := s.Assertion(assertion.CacheKey{Session: "999"}, assertion.ES256, id)
	if tok1 != tok2 {
		t.Error("the newest session is not cached")
	}
}

// A session that ends sooner than the lifetime caps the assertion.
func TestAssertionEndsWithTheSession(t *testing.T) {
	k := newKeys(t, memoryStore(t), time.Hour, 5*time.Minute, nil)
	k.Want(context.Background(), assertion.ES256)
	s := assertion.NewSigner(k, 0, nil)
	end := time.Now().Add(time.Minute)
	tok, err := s.Assertion(assertion.CacheKey{Session: "s"}, assertion.ES256, assertion.Identity{Subject: "a", NotAfter: end})
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Exp int64 }
	if err := json.Unmarshal(payload(t, tok), &c); err != nil || c.Exp > end.Unix() {
		t.Errorf("exp %d after the session's end %d", c.Exp, end.Unix())
	}
	if _, err := s.Assertion(assertion.CacheKey{Session: "gone"}, assertion.ES256, assertion.Identity{Subject: "a", NotAfter: time.Now().Add(-time.Second)}); err == nil {
		t.Error("signed for a session that has ended")
	}
}

func payload(t *testing.T, tok string) []byte {
	t.Helper()
	var parts [3]string
	n := 0
	for i, p := 0, 0; i <= len(tok) && n < 3; i++ {
		if i == len(tok) || tok[i] == '.' {
			parts[n] = tok[p:i]
			n++
			p = i + 1
		}
	}
	b, err := base64URL(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Cached against signed: what the cache saves on every request.
func BenchmarkAssertion(b *testing.B) {
	k, err := assertion.NewKeys(assertion.KeysOptions{Store: memoryStoreB(b), Rotate: time.Hour, Lifetime: 5 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	k.Want(context.Background(), assertion.ES256)
	id := assertion.Identity{Issuer: "https://app.example.com", Audience: "https://app.example.com", Subject: "7d3c1e0a-user",
		Email: "alice@example.com", Name: "Alice Example", Username: "alice", Groups: []string{"ops", "admins", "users"}}
	key := assertion.CacheKey{Session: "0123456789abcdef0123456789abcdef0123456789a", Audience: id.Audience, Version: "eyJhbGciOi.token"}
	for _, c := range []struct {
		name string
		size int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(c.name, func(b *testing.B) {
			s := assertion.NewSigner(k, c.size, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Assertion(key, assertion.ES256, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func memoryStoreB(b *testing.B) *session.MemoryStore {
	s := session.NewMemoryStore(session.MemoryOptions{})
	b.Cleanup(func() { _ = s.Close() })
	return s
}
