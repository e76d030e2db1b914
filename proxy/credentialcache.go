package proxy

import (
	"crypto/sha256"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Credential cache windows: a good credential is trusted again without
// asking the provider for at most MaxCredentialCacheTTL (also the default;
// never past its expiry), so a revoked token stops working within that
// window; a refused one is remembered for negativeTTL, so repeating it
// costs the provider nothing.
const (
	MaxCredentialCacheTTL = 60 * time.Second
	negativeTTL           = 5 * time.Second
	maxCachedOutcomes     = 10_000
)

// allJWTAlgorithms is every JWS algorithm, for reading a token's claims
// before deciding how to verify it; never for trusting them.
var allJWTAlgorithms = []jose.SignatureAlgorithm{
	jose.HS256, jose.HS384, jose.HS512, jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512, jose.EdDSA,
}

// credentialCache remembers Authorization outcomes per provider and exact
// header value. It outlives snapshots, so a refresh does not make every
// machine client re-authenticate. Keys are hashes: no credential is a map
// key.
type credentialCache struct {
	positive time.Duration
	mu       sync.Mutex
	entries  map[[32]byte]cachedOutcome
	flight   singleflight.Group
	now      func() time.Time
}

type cachedOutcome struct {
	v     *verifiedCredential // nil: refused
	err   error
	until time.Time
}

func newCredentialCache(positive time.Duration) *credentialCache {
	if positive <= 0 || positive > MaxCredentialCacheTTL {
		positive = MaxCredentialCacheTTL
	}
	return &credentialCache{positive: positive, entries: map[[32]byte]cachedOutcome{}, now: time.Now}
}

func credentialKey(clientID, header string) [32]byte {
	return sha256.Sum256([]byte(clientID + "\x00" + header))
}

// lookup returns the cached outcome for header, or runs verify once
// however many requests ask at the same time, and caches what it says:
// success until min(positive window, expiry), a rejection for negativeTTL,
// and an unreachable provider not at all.
func (c *credentialCache) lookup(clientID, header string, verify func() (*verifiedCredential, error)) (*verifiedCredential, error) {
	key := credentialKey(clientID, header)
	if v, err, ok := c.cachedAt(key); ok {
		return v, err
	}
	res, err, _ := c.flight.Do(string(key[:]), func() (any, error) {
		v, err := verify()
		c.store(key, v, err)
		return v, err
	})
	if err != nil {
		return nil, err
	}
	return res.(*verifiedCredential).clone(), nil
}

// cached is the outcome remembered for header, if any; nothing is verified.
func (c *credentialCache) cached(clientID, header string) (*verifiedCredential, error, bool) {
	return c.cachedAt(credentialKey(clientID, header))
}

func (c *credentialCache) cachedAt(key [32]byte) (*verifiedCredential, error, bool) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	switch {
	case !ok || !now.Before(e.until):
		return nil, nil, false
	case e.v == nil:
		return nil, e.err, true
	}
	return e.v.clone(), nil, true
}

func (c *credentialCache) store(key [32]byte, v *verifiedCredential, err error) {
	now := c.now()
	var until time.Time
	switch {
	case err == nil:
		until = now.Add(c.positive)
		if !v.expiry.IsZero() && v.expiry.Before(until) {
			until = v.expiry
		}
	case errors.Is(err, errRejected):
		until = now.Add(negativeTTL)
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedOutcomes {
		c.evictLocked(now, err == nil)
	}
	if len(c.entries) >= maxCachedOutcomes {
		return // full of live successes: verify again next time
	}
	if err == nil {
		c.entries[key] = cachedOutcome{v: v.clone(), until: until}
	} else {
		c.entries[key] = cachedOutcome{err: err, until: until}
	}
}

// evictLocked drops expired outcomes and, to make room for a success, every
// cached refusal: a flood of bad tokens must not push good ones out.
func (c *credentialCache) evictLocked(now time.Time, forSuccess bool) {
	for k, e := range c.entries {
		if !now.Before(e.until) || (forSuccess && e.v == nil) {
			delete(c.entries, k)
		}
	}
}

func (v *verifiedCredential) clone() *verifiedCredential {
	c := *v
	c.claims = cloneClaims(v.claims)
	return &c
}

// cloneClaims copies the top level: request handling reads claims and
// never changes nested values.
func cloneClaims(m map[string]any) map[string]any { return maps.Clone(m) }
