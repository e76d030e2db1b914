package proxy

// Checking a Bearer token or Basic credentials with the identity provider
// (spec §10): what the header loaders of identity_chain.go ask, through
// the credential cache.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"go.opentelemetry.io/otel/trace"
)

// maxIdPBody bounds what is read from an identity provider's answer.
const maxIdPBody = 1 << 20

// errRejected is a credential the identity provider (or local verification)
// refused: worth caching briefly. Other errors (the provider unreachable)
// are not cached.
var errRejected = errors.New("credential rejected")

// verifiedCredential is what a good credential proved.
type verifiedCredential struct {
	claims map[string]any
	// raw is the token passed on as X-authentik-jwt.
	raw    string
	expiry time.Time
}

// verifyBearer accepts a token the provider issued for this application.
// A JWT is verified locally first (signature, issuer, audience = client
// id, expiry), which refuses a token for another application without a
// round trip; then, when the provider has an introspection endpoint, the
// provider confirms the token is still active, so a revoked token stops
// working within the cache window.
func (a *application) verifyBearer(ctx context.Context, token string) (*verifiedCredential, error) {
	eps, err := a.oidc.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	var local *verifiedCredential
	if looksLikeJWT(token) {
		if t, verr := eps.verifier.Verify(ctx, token); verr == nil {
			var claims map[string]any
			if err := t.Claims(&claims); err != nil {
				return nil, fmt.Errorf("%w: claims: %v", errRejected, err)
			}
			local = &verifiedCredential{claims: claims, raw: token, expiry: t.Expiry}
		} else if a.issuedHere(token) || eps.introspection == "" {
			// Ours but not valid here (tampered, expired, another app's),
			// or nobody to ask.
			return nil, fmt.Errorf("%w: %v", errRejected, verr)
		}
	}
	if eps.introspection == "" {
		if local == nil {
			return nil, fmt.Errorf("%w: not a JWT this provider signed, and it has no introspection endpoint", errRejected)
		}
		return local, nil
	}
	active, err := a.introspect(ctx, eps, token)
	if err != nil {
		return nil, err
	}
	if local != nil {
		if claimString(active.claims, "sub") != "" && claimString(active.claims, "sub") != claimString(local.claims, "sub") {
			return nil, fmt.Errorf("%w: introspection names another subject", errRejected)
		}
		// The verified token's claims, with what the provider adds now.
		for k, v := range active.claims {
			if _, ok := local.claims[k]; !ok {
				local.claims[k] = v
			}
		}
		return local, nil
	}
	return active, nil
}

func looksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

// issuedHere reports whether an (unverified) JWT claims this provider's
// issuer: such a token that fails verification is refused outright.
func (a *application) issuedHere(token string) bool {
	t, err := jwt.ParseSigned(token, allJWTAlgorithms)
	if err != nil {
		return false
	}
	var c jwt.Claims
	if err := t.UnsafeClaimsWithoutVerification(&c); err != nil {
		return false
	}
	return c.Issuer != "" && (c.Issuer == a.provider.Issuer || c.Issuer == a.provider.OIDCConfiguration.Issuer)
}

// introspect asks the provider whether token is active (RFC 7662, spec
// §10): client_id and client_secret in the form, as authentik expects.
func (a *application) introspect(ctx context.Context, eps *endpoints, token string) (*verifiedCredential, error) {
	form := url.Values{"client_id": {a.provider.ClientID}, "client_secret": {a.provider.ClientSecret}, "token": {token}}
	var body map[string]any
	ictx, span := childSpan(a.tracer, ctx, spanIntrospect, trace.SpanKindClient)
	err := a.postForm(ictx, eps.introspection, form, &body)
	endCredential(span, err)
	if err != nil {
		return nil, fmt.Errorf("introspection: %w", err)
	}
	if active, _ := body["active"].(bool); !active {
		return nil, fmt.Errorf("%w: introspection says the token is not active", errRejected)
	}
	if !boundTo(body, a.provider.ClientID) {
		return nil, fmt.Errorf("%w: the token was issued to another client", errRejected)
	}
	var expiry time.Time
	if exp, ok := body["exp"].(float64); ok {
		expiry = time.Unix(int64(exp), 0)
		if !time.Now().Before(expiry) {
			return nil, fmt.Errorf("%w: token expired", errRejected)
		}
	}
	claims := make(map[string]any, len(body))
	for k, v := range body {
		switch k {
		case "active", "scope", "token_type":
		default:
			claims[k] = v
		}
	}
	if claimString(claims, "sub") == "" {
		return nil, fmt.Errorf("%w: introspection names no subject", errRejected)
	}
	return &verifiedCredential{claims: claims, raw: token, expiry: expiry}, nil
}

// boundTo reports whether an introspection answer binds the token to
// clientID: its audience, its client_id or its authorized party.
func boundTo(claims map[string]any, clientID string) bool {
	if claimString(claims, "client_id") == clientID || claimString(claims, "azp") == clientID {
		return true
	}
	switch aud := claims["aud"].(type) {
	case string:
		return aud == clientID
	case []any:
		for _, v := range aud {
			if s, _ := v.(string); s == clientID {
				return true
			}
		}
	}
	return false
}

// verifyAppPassword redeems Basic credentials with the client_credentials
// grant (spec §10): client_id, username, password and the provider's
// scopes, no client secret; the id_token of the answer is verified and
// its claims count.
func (a *application) verifyAppPassword(ctx context.Context, user, password string) (*verifiedCredential, error) {
	if a.provider.Issuer != "" {
		// The grant with a user's password is authentik's; a standalone
		// issuer is never sent one.
		return nil, fmt.Errorf("%w: Basic credentials need an authentik core (use a Bearer token)", errRejected)
	}
	eps, err := a.oidc.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {a.provider.ClientID},
		"username": {user}, "password": {password}, "scope": {strings.Join(a.provider.ScopesToRequest, " ")},
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := a.postForm(ctx, eps.oauth.Endpoint.TokenURL, form, &tok); err != nil {
		return nil, fmt.Errorf("client_credentials: %w", err)
	}
	if tok.IDToken == "" {
		return nil, fmt.Errorf("%w: the token response has no id_token", errRejected)
	}
	t, err := eps.verifier.Verify(ctx, tok.IDToken)
	if err != nil {
		return nil, fmt.Errorf("%w: id_token: %v", errRejected, err)
	}
	var claims map[string]any
	if err := t.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", errRejected, err)
	}
	return &verifiedCredential{claims: claims, raw: tok.IDToken, expiry: t.Expiry}, nil
}

// postForm posts form over the back channel (Host rewritten, spec §7.2)
// and decodes a 200 JSON answer into out. 4xx is a rejection; anything
// else means the provider could not answer.
func (a *application) postForm(ctx context.Context, endpoint string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := a.oidc.backchannel.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIdPBody))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return fmt.Errorf("%w: HTTP %d", errRejected, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	return nil
}
