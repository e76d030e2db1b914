package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/outpost-dev/outpost/assertion"
	"github.com/outpost-dev/outpost/session"
)

// The signed identity assertion (docs/identity-assertion.md): the outpost
// signs a short-lived JWT per session and audience and adds it to the
// request to the app, and publishes its keys on every host of a provider
// that has it.

// The JWKS paths, served on the external host of every provider with the
// assertion on. The reserved one is routed to the outpost by every shipped
// reverse-proxy configuration, so forward-mode apps can use it too.
const (
	pathJWKS          = reservedPrefix + "/jwks"
	pathWellKnownJWKS = "/.well-known/jwks.json"
)

// AssertionOptions are the outpost-wide settings of the assertion.
type AssertionOptions struct {
	// Defaults are the settings of a provider that sets none: every
	// provider of a core (OUTPOST_ASSERTION__*).
	Defaults assertion.Settings
	// Rotate is how often the signing key changes (default
	// assertion.DefaultRotate); Lifetime how long an assertion lives
	// (default assertion.DefaultLifetime).
	Rotate, Lifetime time.Duration
	// CacheSize bounds the cached assertions (default
	// assertion.DefaultCacheSize; negative: none, every request signs).
	CacheSize int
	// KeyStore shares the keys between replicas; nil: the session store
	// (every store implements session.KeyStore).
	KeyStore session.KeyStore
	// KeyFile, if set, holds the keys instead of any store
	// (OUTPOST_ASSERTION__KEY_FILE): the operator's keys, rotated by
	// changing the file; Rotate is not used.
	KeyFile string
}

// newAssertionSigner is the outpost's signer: its keys in the session
// store, so every replica that shares sessions shares them.
func newAssertionSigner(opts Options) (*assertion.Signer, error) {
	m := opts.Metrics
	if f := opts.Assertion.KeyFile; f != "" {
		keys, err := assertion.NewKeys(assertion.KeysOptions{
			File: f, Lifetime: opts.Assertion.Lifetime, Log: opts.Log,
			OnRotate: m.AssertionKeyRotated, OnError: m.AssertionKeyError,
		})
		if err != nil {
			return nil, err
		}
		return assertion.NewSigner(keys, opts.Assertion.CacheSize, m.AssertionSigned), nil
	}
	ks := opts.Assertion.KeyStore
	if ks == nil {
		ks, _ = opts.Store.(session.KeyStore)
	}
	if ks == nil {
		// Every store of the project is one; a store from elsewhere that
		// is not leaves the assertion unusable (its providers left out).
		return nil, errors.New("the session store cannot keep signing keys (it does not implement session.KeyStore)")
	}
	keys, err := assertion.NewKeys(assertion.KeysOptions{
		Store: ks, Rotate: opts.Assertion.Rotate, Lifetime: opts.Assertion.Lifetime, Log: opts.Log,
		OnRotate: m.AssertionKeyRotated, OnError: m.AssertionKeyError,
	})
	if err != nil {
		return nil, err
	}
	return assertion.NewSigner(keys, opts.Assertion.CacheSize, m.AssertionSigned), nil
}

// assertionSettings are p's own, else the outpost's defaults.
func assertionSettings(own *assertion.Settings, opts Options) assertion.Settings {
	if own != nil {
		return *own
	}
	d := opts.Assertion.Defaults
	if d.Header == "" {
		d.Header = assertion.DefaultHeader
	}
	if d.Alg == "" {
		d.Alg = assertion.DefaultAlg
	}
	return d
}

// stripAssertion removes a client's assertion headers: the configured
// name and the default one, on every provider. Other spellings ("_", ".")
// are gone already: stripIdentityHeaders removes every name that is not
// letters, digits and "-", and Go's server gives every other name its
// canonical case.
func (a *application) stripAssertion(h http.Header) {
	delete(h, assertion.DefaultHeader)
	delete(h, a.assertion.Header)
}

// signAssertion is the assertion for s towards aud (an origin), or an
// error: then the request is refused.
func (a *application) signAssertion(s *session.Session, aud string) (string, error) {
	id := s.ID
	if id == "" {
		// A bearer token or app password: the credential is the session.
		id = s.AccessToken
	}
	return a.signer.Assertion(assertion.CacheKey{Session: id, Audience: aud, Version: s.AccessToken}, a.assertion.Alg, assertion.Identity{
		Issuer: a.issuerOrigin, Audience: aud,
		Subject: claimString(s.Claims, "sub"), Email: claimString(s.Claims, "email"), Name: claimString(s.Claims, "name"),
		Username: claimString(s.Claims, "preferred_username"), Groups: claimStrings(s.Claims, "groups"),
		NotAfter: s.ExpiresAt,
	})
}

// assertionFailed refuses a request the assertion could not be signed
// for: passing it without would let an app that relies on the assertion
// see an anonymous request, or one a client made up.
func (a *application) assertionFailed(w http.ResponseWriter, r *http.Request, err error) {
	a.log.Error("identity assertion not signed: request refused", "provider", a.provider.Name,
		"path", r.URL.Path, "request_id", requestID(r), "error", err)
	w.Header().Set("Retry-After", "5")
	renderPage(w, r, page{Status: http.StatusServiceUnavailable, Title: "Service unavailable",
		Message: "The outpost cannot vouch for your identity to the application right now. Try again in a moment.",
		Links:   a.backLinks(r, http.StatusServiceUnavailable)})
}

// servedJWKS answers the JWKS paths of a provider with the assertion on,
// and reports whether it did.
func (a *application) servedJWKS(w http.ResponseWriter, r *http.Request) bool {
	if !a.assertion.Enabled || (r.URL.Path != pathJWKS && r.URL.Path != pathWellKnownJWKS) {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return true
	}
	keys := a.signer.Keys()
	body := keys.JWKS()
	if !keys.Published() {
		// An empty set a verifier caches would refuse every assertion
		// until it looks again.
		w.Header().Set("Retry-After", "5")
		http.Error(w, "signing keys not loaded yet", http.StatusServiceUnavailable)
		return true
	}
	// Keys are published a rotation period before they sign, so a copy
	// this old still verifies every assertion.
	maxAge := min(keys.Rotate()/4, 5*time.Minute)
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(maxAge.Seconds())))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return true
	}
	_, _ = w.Write(body)
	return true
}

// originOfURL is scheme://host of u.
func originOfURL(u *url.URL) string { return u.Scheme + "://" + u.Host }

// wantAssertionKeys loads the keys the applications of a new snapshot
// sign with, before it is put in force.
func wantAssertionKeys(signer *assertion.Signer, apps map[string]*application) {
	for _, app := range apps {
		if app.assertion.Enabled {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			signer.Keys().Want(ctx, app.assertion.Alg)
			cancel()
		}
	}
}
