package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/outpost-dev/outpost/outpostapi"
	"golang.org/x/oauth2"
)

// Back-channel calls to the identity provider are bounded: a hung core must
// not hold a login (or a request waiting on a refresh) forever.
const backchannelTimeout = 15 * time.Second

// endpoints is what a provider needs to sign people in, resolved once.
type endpoints struct {
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string
	jwks       string
	// introspection is the RFC 7662 endpoint, "" when there is none.
	introspection string
	// accessTokenClaims: authentik's access token is a JWT carrying the
	// claims and is what the reference verifies (spec §7.5); a standalone
	// issuer's access token may be opaque, so there the id_token counts.
	accessTokenClaims bool
	// coreIssuer is the iss a core provider's tokens must carry (from its
	// oidc_configuration), to explain a mismatch; "" for standalone.
	coreIssuer string
	// userinfo, for standalone issuers, reads the claims many issuers keep
	// out of the id_token (profile, email, groups).
	userinfo *oidc.Provider
}

// oidcClient is one provider's OpenID Connect client side.
type oidcClient struct {
	provider *outpostapi.Provider
	// backchannel reaches the token endpoint (Host rewritten, spec §7.2);
	// plain fetches discovery and JWKS.
	backchannel *http.Client
	plain       *http.Client
	// keyRefresh spaces the JWKS fetches (spacedKeySet).
	keyRefresh time.Duration

	// resolved are a core provider's endpoints, from the snapshot.
	resolved *endpoints
	// discovery, for a standalone provider, holds its issuer's document;
	// built are the endpoints made from builtFrom, the latest one.
	discovery *discovery
	mu        sync.Mutex
	built     *endpoints
	builtFrom *discovered
	// jwksURI is the discovered jwks_uri once a discovery succeeded, for
	// every request's identity headers.
	jwksURI atomic.Pointer[string]
}

// oidcSettings are the outpost-wide inputs to a provider's OIDC client.
type oidcSettings struct {
	// BrowserURL is AUTHENTIK_HOST_BROWSER (nil when unset).
	BrowserURL *url.URL
	// AuthentikHost is the outpost config's authentik_host ("" when unset).
	AuthentikHost string
	Insecure      bool
	UserAgent     string
	// KeyRefresh is the least time between JWKS fetches; 0 is the default.
	KeyRefresh time.Duration
	// Discoveries run standalone providers' discovery in the background.
	Discoveries *discoveries
}

func newOIDCClient(p *outpostapi.Provider, s oidcSettings) (*oidcClient, error) {
	base := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: s.Insecure, MinVersion: tls.VersionTLS12}, //nolint:gosec // AUTHENTIK_INSECURE asks for exactly this
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
	// Every body from the identity provider is capped (issuerbody.go).
	capped := cappedTransport{base: base, max: maxIssuerBody}
	ua := s.UserAgent + " (provider=" + p.Name + ")"
	c := &oidcClient{
		provider:   p,
		keyRefresh: s.KeyRefresh,
		plain:      &http.Client{Timeout: backchannelTimeout, Transport: &backchannelTransport{base: capped, userAgent: ua}},
	}
	bt := &backchannelTransport{base: capped, userAgent: ua}
	if p.Issuer == "" {
		// Core providers: the core derives the token's iss from the Host of
		// the token request, so it must be the host browsers use.
		var hostURL *url.URL
		if s.BrowserURL != nil {
			hostURL = s.BrowserURL
		} else if s.AuthentikHost != "" {
			u, err := url.Parse(s.AuthentikHost)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("outpost config authentik_host %q is not a URL", s.AuthentikHost)
			}
			hostURL = u
		}
		if hostURL != nil {
			bt.host, bt.proto = hostURL.Host, hostURL.Scheme
		}
	}
	c.backchannel = &http.Client{Timeout: backchannelTimeout, Transport: bt}
	if p.Issuer == "" {
		eps, err := c.coreEndpoints(s.BrowserURL)
		if err != nil {
			return nil, err
		}
		c.resolved = eps
	} else {
		c.discovery = s.Discoveries.use(p, c.plain)
	}
	return c, nil
}

// backchannelTransport sets the User-Agent and, for core providers, the Host
// the core must see (and the matching X-Forwarded-Proto).
type backchannelTransport struct {
	base        http.RoundTripper
	userAgent   string
	host, proto string
}

func (t *backchannelTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", t.userAgent)
	// The span the call is made under (a refresh, a credential check),
	// if any: with tracing off there is none, and nothing is set.
	injectTrace(r.Context(), r.Header)
	if t.host != "" && t.host != r.URL.Host {
		r.Host = t.host
		r.Header.Set("X-Forwarded-Proto", t.proto)
	}
	return t.base.RoundTrip(r)
}

// withBrowserHost replaces scheme and host of raw with those of browser.
func withBrowserHost(raw string, browser *url.URL) string {
	if browser == nil || raw == "" {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Scheme, u.Host = browser.Scheme, browser.Host
	return u.String()
}

// coreEndpoints builds the endpoints from the core's oidc_configuration.
func (c *oidcClient) coreEndpoints(browser *url.URL) (*endpoints, error) {
	p := c.provider
	cfg := p.OIDCConfiguration
	issuer := withBrowserHost(cfg.Issuer, browser)
	var keys oidc.KeySet
	algs := []string{oidc.RS256, oidc.ES256}
	if slices.Contains(cfg.IDTokenSigningAlgValuesSupported, "HS256") {
		// Proxy providers have no signing key: tokens are HMAC-signed with
		// the client secret.
		keys = hmacKeySet{secret: []byte(p.ClientSecret)}
		algs = []string{"HS256"}
	} else {
		if cfg.JWKSURI == "" {
			return nil, errors.New("jwks_uri is required when HS256 is not advertised")
		}
		keys = newSpacedKeySet(c.plain, cfg.JWKSURI, c.keyRefresh)
	}
	return &endpoints{
		oauth: oauth2.Config{
			ClientID:     p.ClientID,
			ClientSecret: p.ClientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:   withBrowserHost(cfg.AuthorizationEndpoint, browser),
				TokenURL:  cfg.TokenEndpoint,
				AuthStyle: oauth2.AuthStyleInParams,
			},
			RedirectURL: providerRedirectURI(p),
			Scopes:      p.ScopesToRequest,
		},
		verifier:          oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: p.ClientID, SupportedSigningAlgs: algs}),
		endSession:        withBrowserHost(cfg.EndSessionEndpoint, browser),
		jwks:              cfg.JWKSURI,
		introspection:     cfg.IntrospectionEndpoint,
		accessTokenClaims: true,
		coreIssuer:        issuer,
	}, nil
}

// endpoints returns the provider's endpoints: a core provider's from the
// snapshot, a standalone provider's from the discovery document its
// background discovery holds (discovery.current: no request hangs on an
// issuer that is down).
func (c *oidcClient) endpoints(ctx context.Context) (*endpoints, error) {
	if c.resolved != nil {
		return c.resolved, nil
	}
	doc, err := c.discovery.current(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.builtFrom != doc {
		c.built, c.builtFrom = c.standaloneEndpoints(doc), doc
	}
	return c.built, nil
}

// status says whether the provider can sign people in (discovery.status);
// a core provider can once built.
func (c *oidcClient) status() (ready bool, note string) {
	if c.discovery == nil {
		return true, ""
	}
	return c.discovery.status()
}

// standaloneEndpoints builds the endpoints from an issuer's discovery.
func (c *oidcClient) standaloneEndpoints(doc *discovered) *endpoints {
	p, op, meta := c.provider, doc.op, doc.meta
	// Asymmetric algorithms only: a discovery document advertising HS256 or
	// none must not make a public key usable as an HMAC secret.
	algs := []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}
	// Any issuer: client_secret_basic first (the OAuth 2.0 default), then
	// the form body, as x/oauth2 detects. Core providers keep authentik's
	// credentials-in-body.
	ep := op.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleAutoDetect
	eps := &endpoints{
		oauth: oauth2.Config{
			ClientID:     p.ClientID,
			ClientSecret: p.ClientSecret,
			Endpoint:     ep,
			RedirectURL:  providerRedirectURI(p),
			Scopes:       p.ScopesToRequest,
		},
		verifier: oidc.NewVerifier(p.Issuer, newSpacedKeySet(c.plain, meta.JWKS, c.keyRefresh),
			&oidc.Config{ClientID: p.ClientID, SupportedSigningAlgs: algs}),
		endSession:    meta.EndSession,
		jwks:          meta.JWKS,
		introspection: meta.Introspection,
	}
	if op.UserInfoEndpoint() != "" {
		eps.userinfo = op
	}
	c.jwksURI.Store(&meta.JWKS)
	return eps
}

// discoveredJWKS is the jwks_uri of a discovery that succeeded, read
// without the lock a discovery in progress holds.
func (c *oidcClient) discoveredJWKS() string {
	if u := c.jwksURI.Load(); u != nil {
		return *u
	}
	return ""
}

// clientContext carries the back-channel client to x/oauth2.
func (c *oidcClient) clientContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.backchannel)
}

// hmacKeySet verifies HS256 tokens with the client secret. go-jose is told
// the one algorithm it may accept, so "none" and key-confusion tricks fail.
type hmacKeySet struct{ secret []byte }

func (k hmacKeySet) VerifySignature(_ context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	return jws.Verify(k.secret)
}

// redirectURI is where the provider sends people back (spec §7.1): the
// external host's scheme and host, its path joined with the callback path,
// and the callback marker query. It must match the registered URI exactly.
func redirectURI(external *url.URL) string {
	u := url.URL{Scheme: external.Scheme, Host: external.Host}
	return u.String() + joinPath(external.Path, pathCallback) + "?X-authentik-auth-callback=true"
}

func joinPath(base, p string) string {
	if base == "" || base == "/" {
		return p
	}
	if base[len(base)-1] == '/' {
		return base + p[1:]
	}
	return base + p
}
