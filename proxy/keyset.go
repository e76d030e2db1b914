package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// defaultKeyRefreshInterval is the least time between two JWKS fetches of
// one provider. go-oidc fetches the JWKS again for every token no cached
// key verifies, so without a floor each forged token (logout token, ID
// token, Bearer JWT) would cost the issuer a request.
const defaultKeyRefreshInterval = time.Minute

// keyFetchRetry: after a failed fetch the next may go sooner than a whole
// interval, so an issuer that was briefly down does not keep sign-ins out
// for a minute.
const keyFetchRetry = 10 * time.Second

// errKeyRefreshSpaced is a fetch the gate held back: nothing was sent.
var errKeyRefreshSpaced = errors.New("JWKS fetched too recently")

// spacedKeySet is go-oidc's remote key set (it parses the JWKS, caches the
// keys and verifies) whose fetches go through a refreshGate. Known keys
// keep verifying without a fetch; an unknown key id fetches at most once
// per interval, so a rotation is picked up at most an interval late.
type spacedKeySet struct {
	remote   *oidc.RemoteKeySet
	interval time.Duration
}

// newSpacedKeySet fetches jwksURL with client, at most once per interval.
func newSpacedKeySet(client *http.Client, jwksURL string, interval time.Duration) *spacedKeySet {
	if interval <= 0 {
		interval = defaultKeyRefreshInterval
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	// The key count is checked before go-oidc parses (and keeps) the keys.
	gated := &http.Client{Timeout: client.Timeout, Transport: &refreshGate{base: jwksBound{base: base, max: maxJWKSKeys}, interval: interval}}
	// The key set fetches in the background: its context outlives requests.
	return &spacedKeySet{remote: oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), gated), jwksURL), interval: interval}
}

// VerifySignature implements oidc.KeySet. Any failure, a held-back or
// failed fetch included, is an error: the token is refused.
func (k *spacedKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	payload, err := k.remote.VerifySignature(ctx, jwt)
	if errors.Is(err, errKeyRefreshSpaced) {
		return nil, fmt.Errorf("no known signing key verifies the token (keys are fetched at most every %s)", k.interval)
	}
	return payload, err
}

// refreshGate is the key set's transport: it lets one request out per
// interval and refuses the others without sending them.
type refreshGate struct {
	base     http.RoundTripper
	interval time.Duration

	mu   sync.Mutex
	next time.Time // when the next request may go out
}

func (g *refreshGate) RoundTrip(r *http.Request) (*http.Response, error) {
	now := time.Now()
	g.mu.Lock()
	if now.Before(g.next) {
		g.mu.Unlock()
		return nil, errKeyRefreshSpaced
	}
	g.next = now.Add(g.interval)
	g.mu.Unlock()
	resp, err := g.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		g.mu.Lock()
		g.next = now.Add(min(g.interval, keyFetchRetry))
		g.mu.Unlock()
	}
	return resp, err
}
