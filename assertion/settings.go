// Package assertion is the signed identity assertion: a short-lived JWT the
// outpost signs itself and adds to every authenticated request, so an app
// can verify who is asking against the outpost's published keys instead of
// trusting the network path (docs/identity-assertion.md). It owns the
// signing keys (shared between replicas through the session store, or read
// from a key file), their rotation, the JWKS document, and the per-session
// cache that keeps signing off most requests.
package assertion

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Signing algorithms.
const (
	ES256 = "ES256" // ECDSA P-256 with SHA-256 (the default)
	RS256 = "RS256" // RSA 2048 PKCS#1 v1.5 with SHA-256
)

// Defaults, each the one of its setting (docs/identity-assertion.md).
const (
	DefaultHeader   = "X-Outpost-Jwt-Assertion"
	DefaultAlg      = ES256
	DefaultRotate   = 24 * time.Hour
	DefaultLifetime = 5 * time.Minute
	// MaxLifetime: an assertion is a bearer value the app may log or pass
	// on; it must stop working soon.
	MaxLifetime = 5 * time.Minute
	// MinLifetime keeps the cache useful: a token is re-signed a fifth of
	// its life before it expires.
	MinLifetime = 10 * time.Second
)

// Settings are one provider's choices (the outpost-wide default in core
// mode, a provider's assertion block in standalone mode).
type Settings struct {
	Enabled bool
	// Header is the canonical name of the header that carries it.
	Header string
	// Alg is ES256 or RS256.
	Alg string
}

// Defaults are the settings of a provider that sets none.
func Defaults() Settings { return Settings{Header: DefaultHeader, Alg: DefaultAlg} }

// CheckHeaderName says why name cannot carry the assertion, or nil. Only
// letters, digits and "-": the outpost removes every other name from
// clients, and a gateway folds "X_Outpost" into "X-Outpost".
func CheckHeaderName(name string) error {
	if name == "" {
		return fmt.Errorf("must not be empty")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%q: only letters, digits and - are allowed in the header name", name)
		}
	}
	switch c := http.CanonicalHeaderKey(name); {
	case strings.HasPrefix(c, "X-Authentik"):
		return fmt.Errorf("%q: the X-authentik-* names are the identity headers of the core contract", name)
	case reservedHeaders[c]:
		return fmt.Errorf("%q is a header HTTP or the outpost itself needs", name)
	}
	return nil
}

// reservedHeaders must keep their meaning on the way to the app.
var reservedHeaders = map[string]bool{
	"Authorization": true, "Cookie": true, "Host": true, "Connection": true, "Upgrade": true,
	"Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true,
	"Content-Length": true, "Content-Type": true, "X-Forwarded-For": true, "X-Forwarded-Host": true,
	"X-Forwarded-Proto": true, "X-Request-Id": true, "Forwarded": true,
}

// CheckAlg says why alg is not one the outpost signs with, or nil.
func CheckAlg(alg string) error {
	switch alg {
	case ES256, RS256:
		return nil
	}
	return fmt.Errorf("%q: want ES256 or RS256", alg)
}

// CheckTiming says why rotate and lifetime cannot go together, or nil.
// A key signs for one rotation period and stays published for the next;
// its last token must expire inside that, with room for clocks that
// differ between replicas.
func CheckTiming(rotate, lifetime time.Duration) error {
	switch {
	case lifetime < MinLifetime || lifetime > MaxLifetime:
		return fmt.Errorf("lifetime %s: want between %s and %s", lifetime, MinLifetime, MaxLifetime)
	case rotate < 2*lifetime:
		return fmt.Errorf("rotation every %s: want at least twice the lifetime (%s), so a key stays published until its last token expired", rotate, 2*lifetime)
	}
	return nil
}
