package assertion_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/outpost-dev/outpost/assertion"
	"github.com/outpost-dev/outpost/session"
)

// clock is a settable clock shared by keys under test.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) {
	c.ns.Add(int64(d))
}

func newKeys(t *testing.T, store session.KeyStore, rotate, lifetime time.Duration, now func() time.Time) *assertion.Keys {
	t.Helper()
	k, err := assertion.NewKeys(assertion.KeysOptions{Store: store, Rotate: rotate, Lifetime: lifetime, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

func memoryStore(t *testing.T) *session.MemoryStore {
	s := session.NewMemoryStore(session.MemoryOptions{})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// kids are the key ids a JWKS document publishes.
func kids(t *testing.T, jwks []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid, Alg, Use, Kty string
			D                  string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS %s: %v", jwks, err)
	}
	var out []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatalf("the JWKS publishes a private key: %s", jwks)
		}
		out = append(out, k.Kid)
	}
	return out
}

// kidOf is the kid in a compact JWS's header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	var hdr struct{ Kid string }
	b, err := base64URL(h)
	if err != nil || json.Unmarshal(b, &hdr) != nil {
		t.Fatalf("bad header in %q", tok)
	}
	return hdr.Kid
}

// Replicas on one store that start at once converge on one key, and
// publish the same JWKS.
func TestReplicasConvergeOnOneKey(t *testing.T) {
	store := memoryStore(t)
	const n = 6
	keys := make([]*assertion.Keys, n)
	for i := range keys {
		keys[i] = newKeys(t, store, time.Hour, 5*time.Minute, nil)
	}
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() { defer wg.Done(); k.Want(context.Background(), assertion.ES256) }()
	}
	wg.Wait()
	first := string(keys[0].JWKS())
	if got := kids(t, keys[0].JWKS()); len(got) < 2 {
		t.Fatalf("want the current and the next key published, got %v", got)
	}
	for i, k := range keys {
		if string(k.JWKS()) != first {
			t.Errorf("replica %d publishes %s, replica 0 %s", i, k.JWKS(), first)
		}
	}
	id := assertion.Identity{Issuer: "https://app.example.com", Audience: "https://app.example.com", Subject: "alice"}
	var signed []string
	for _, k := range keys {
		tok, err := assertion.NewSigner(k, -1, nil).Assertion(assertion.CacheKey{Session: "s"}, assertion.ES256, id)
		if err != nil {
			t.Fatal(err)
		}
		signed = append(signed, kidOf(t, tok))
	}
	for _, kid := range signed {
		if kid != signed[0] {
			t.Errorf("replicas sign with different keys: %v", signed)
		}
	}
}

// Rotation on a clock: the next key is published a whole period before it
// signs, the previous one stays published a period after, and nothing
// older is published.
func TestRotationPublishesAheadAndKeepsThePrevious(t *testing.T) {
	const rotate = time.Hour
	c := newClock(time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC))
	store := session.NewMemoryStore(session.MemoryOptions{Now: c.now})
	t.Cleanup(func() { _ = store.Close() })
	k := newKeys(t, store, rotate, 5*time.Minute, c.now)
	k.Want(context.Background(), assertion.ES256)
	s := assertion.NewSigner(k, -1, nil)
	id := assertion.Identity{Issuer: "https://a", Audience: "https://a", Subject: "alice"}
	sign := func() string {
		t.Helper()
		tok, err := s.Assertion(assertion.CacheKey{Session: "s"}, assertion.ES256, id)
		if err != nil {
			t.Fatal(err)
		}
		return kidOf(t, tok)
	}
	k0 := sign()
	before := kids(t, k.JWKS())
	if len(before) != 2 {
		t.Fatalf("at the first start: want the current and the next key, got %v", before)
	}
	var next string
	for _, kid := range before {
		if kid != k0 {
			next = kid
		}
	}
	c.add(rotate)
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	k1 := sign()
	if k1 != next {
		t.Errorf("after a period the key %s signs, want the one published ahead %s", k1, next)
	}
	after := kids(t, k.JWKS())
	if !contains(after, k0) || !contains(after, k1) || len(after) != 3 {
		t.Errorf("after a rotation want previous %s, current %s and a next key, got %v", k0, k1, after)
	}
	c.add(rotate)
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if later := kids(t, k.JWKS()); contains(later, k0) {
		t.Errorf("two periods on, the first key %s is still published: %v", k0, later)
	}

	// A replica that starts now reads the keys the first made.
	late := newKeys(t, store, rotate, 5*time.Minute, c.now)
	late.Want(context.Background(), assertion.ES256)
	if string(late.JWKS()) != string(k.JWKS()) {
		t.Errorf("a replica started later publishes\n%s\nwant\n%s", late.JWKS(), k.JWKS())
	}
}

// A store that cannot answer means no key, and no assertion: never one
// signed with a key only this replica knows.
func TestStoreDownSignsNothing(t *testing.T) {
	k := newKeys(t, failingStore{}, time.Hour, 5*time.Minute, nil)
	k.Want(context.Background(), assertion.ES256)
	_, err := assertion.NewSigner(k, 0, nil).Assertion(assertion.CacheKey{Session: "s"}, assertion.ES256, assertion.Identity{Subject: "alice"})
	if err == nil {
		t.Fatal("signed without a stored key")
	}
	if k.Published() {
		t.Errorf("publishes keys without a store: %s", k.JWKS())
	}
}

// failingStore is a key store whose backend never answers.
type failingStore struct{}

var errDown = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")

func (failingStore) Key(context.Context, string) ([]byte, error) { return nil, errDown }
func (failingStore) AddKey(context.Context, string, []byte, time.Time) ([]byte, error) {
	return nil, errDown
}

// What a store holds under a key's name must be a private key of the
// algorithm: anything else (a corrupted value, an RSA key where ES256
// signs) is refused, never used and never replaced.
func TestStoredValueThatIsNoKeyRefused(t *testing.T) {
	const rotate = time.Hour
	for name, value := range map[string][]byte{
		"garbage":    []byte("not json"),
		"public key": publicJWK(t),
		"an RSA key": privateJWK(t, assertion.RS256),
	} {
		t.Run(name, func(t *testing.T) {
			store := memoryStore(t)
			epoch := time.Now().UnixNano() / int64(rotate)
			for e := epoch - 1; e <= epoch+1; e++ {
				if _, err := store.AddKey(context.Background(), fmt.Sprintf("assertion/ES256/%d/%d", rotate.Milliseconds(), e), value, time.Now().Add(3*rotate)); err != nil {
					t.Fatal(err)
				}
			}
			k := newKeys(t, store, rotate, 5*time.Minute, nil)
			k.Want(context.Background(), assertion.ES256)
			if _, err := assertion.NewSigner(k, 0, nil).Assertion(assertion.CacheKey{Session: "s"}, assertion.ES256, assertion.Identity{Subject: "alice"}); err == nil {
				t.Error("signed with what the store held")
			}
			if k.Published() {
				t.Errorf("published %s", k.JWKS())
			}
		})
	}
}

// RS256, when chosen, verifies as ES256 does.
func TestRS256Verifies(t *testing.T) {
	k := newKeys(t, memoryStore(t), time.Hour, 5*time.Minute, nil)
	k.Want(context.Background(), assertion.RS256)
	srv := jwksServer(t, k)
	v := oidc.NewVerifier("https://a", oidc.NewRemoteKeySet(context.Background(), srv.URL), &oidc.Config{ClientID: "https://a", SupportedSigningAlgs: []string{"RS256"}})
	tok, err := assertion.NewSigner(k, 0, nil).Assertion(assertion.CacheKey{Session: "s"}, assertion.RS256, assertion.Identity{Issuer: "https://a", Audience: "https://a", Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("an RS256 assertion does not verify: %v", err)
	}
}

func jwksServer(t *testing.T, k *assertion.Keys) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(k.JWKS())
	}))
	t.Cleanup(srv.Close)
	return srv
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
