package assertion

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Identity is who an assertion speaks for, and to whom.
type Identity struct {
	// Issuer is the outpost's external URL for the provider (the origin of
	// its external_host); Audience the app's (the same in proxy mode, the
	// original request's origin under a forward_domain provider).
	Issuer, Audience string
	Subject          string
	Email            string
	Name             string
	Username         string // preferred_username
	Groups           []string
	// NotAfter caps the expiry (the session's end); zero: none.
	NotAfter time.Time
}

// claims is the payload: these fields and nothing else (no token, no
// attribute the app was not already given in the clear).
type claims struct {
	Issuer   string   `json:"iss"`
	Audience string   `json:"aud"`
	Subject  string   `json:"sub"`
	Email    string   `json:"email"`
	Groups   []string `json:"groups"`
	Name     string   `json:"name"`
	Username string   `json:"preferred_username"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	ID       string   `json:"jti"`
}

// Signer signs assertions with the keys in force and caches them.
type Signer struct {
	keys  *Keys
	cache *cache
	// OnSigned, if set, counts each assertion handed out by result:
	// ResultSigned, ResultCached or ResultFailed.
	onSigned func(result string)
	now      func() time.Time
}

// Results of Signer.Assertion (outpost_assertion_signed_total).
const (
	ResultSigned = "signed"
	ResultCached = "cached"
	ResultFailed = "failed"
)

// Results are every result, for metrics exported at 0.
var Results = []string{ResultSigned, ResultCached, ResultFailed}

// DefaultCacheSize bounds the cached assertions (one per session and
// audience).
const DefaultCacheSize = 10000

// NewSigner signs with keys, caching up to cacheSize assertions (0:
// DefaultCacheSize; negative: none).
func NewSigner(keys *Keys, cacheSize int, onSigned func(result string)) *Signer {
	if cacheSize == 0 {
		cacheSize = DefaultCacheSize
	}
	if onSigned == nil {
		onSigned = func(string) {}
	}
	return &Signer{keys: keys, cache: newCache(cacheSize), onSigned: onSigned, now: keys.opts.Now}
}

// Keys are the signer's keys.
func (s *Signer) Keys() *Keys { return s.keys }

// CacheKey says which cached assertion may answer: one per session (or
// credential) and audience, for as long as Version (the session's access
// token, which changes when a refresh changes the claims) stays.
type CacheKey struct {
	Session, Audience string
	Version           string
}

// cacheKey is what the cache is keyed by: Version is compared, not
// hashed (it is a whole token long).
type cacheKey struct{ session, audience, alg string }

// Assertion is the assertion for id signed with alg: the cached one while
// it has more than a fifth of its life left, else a new one. An error
// means no assertion: the caller must refuse the request.
func (s *Signer) Assertion(key CacheKey, alg string, id Identity) (string, error) {
	now := s.now()
	ck := cacheKey{key.Session, key.Audience, alg}
	gen := s.keys.state.Load().gen
	if tok, ok := s.cache.get(ck, key.Version, gen, now); ok {
		s.onSigned(ResultCached)
		return tok, nil
	}
	tok, exp, err := s.sign(alg, id, now)
	if err != nil {
		s.onSigned(ResultFailed)
		return "", err
	}
	s.onSigned(ResultSigned)
	life := exp.Sub(now)
	s.cache.put(ck, key.Version, tok, gen, now, now.Add(life-life/5))
	return tok, nil
}

// sign makes a new assertion.
func (s *Signer) sign(alg string, id Identity, now time.Time) (string, time.Time, error) {
	sk, err := s.keys.signer(alg)
	if err != nil {
		return "", time.Time{}, err
	}
	// Whole seconds, as in the token: exp - iat is the lifetime exactly.
	iat := time.Unix(now.Unix(), 0)
	exp := iat.Add(s.keys.opts.Lifetime)
	if !id.NotAfter.IsZero() && id.NotAfter.Before(exp) {
		exp = time.Unix(id.NotAfter.Unix(), 0)
	}
	if !exp.After(now) {
		return "", time.Time{}, fmt.Errorf("the session has ended")
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, err
	}
	groups := id.Groups
	if groups == nil {
		groups = []string{}
	}
	payload, err := json.Marshal(claims{
		Issuer: id.Issuer, Audience: id.Audience, Subject: id.Subject, Email: id.Email, Groups: groups,
		Name: id.Name, Username: id.Username, IssuedAt: iat.Unix(), Expiry: exp.Unix(),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	if err != nil {
		return "", time.Time{}, err
	}
	jws, err := sk.signer.Sign(payload)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("signing: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, exp, nil
}
