package proxy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/session"
)

// tokenUsername is the Basic-auth user name that means "the password is a
// token" (spec §10).
const tokenUsername = "goauthentik.io/token"

// maxIdPBody bounds what is read from an identity provider's answer.
const maxIdPBody = 1 << 20

// credential is the outcome of a request's Authorization header.
type credential struct {
	// presented: the request carried an Authorization header.
	presented bool
	// session is the identity it proved, nil when it proved none. It is a
	// request-scoped session: nothing is stored.
	session *session.Session
	// method is metrics.MethodBearer or metrics.MethodBasic.
	method string
	// scheme is the scheme the client used, for the challenge.
	scheme string
	// limited: the client IP has used its budget of refused credentials,
	// so this one was not checked.
	limited bool
	// header is the Authorization header as sent, to check it again (a
	// websocket opened with it).
	header string
}

// errLimited is the outcome of a credential not checked because its client
// IP is over its budget of refused ones; it is never cached.
var errLimited = errors.New("too many refused credentials from this address")

// errRejected is a credential the identity provider (or local verification)
// refused: worth caching briefly. Other errors (the provider unreachable)
// are not cached.
var errRejected = errors.New("credential rejected")

// authenticateHeader checks the Authorization header: a Bearer token (local
// JWT verification, then introspection), or Basic credentials (an app
// password through the client_credentials grant, or a token under the user
// name goauthentik.io/token). Outcomes are cached per exact header value.
func (a *application) authenticateHeader(r *http.Request) credential {
	header := r.Header.Get("Authorization")
	if header == "" {
		return credential{}
	}
	scheme, value, _ := strings.Cut(header, " ")
	value = strings.TrimSpace(value)
	c := credential{presented: true, scheme: scheme, header: header}
	var verify func(context.Context) (*verifiedCredential, error)
	switch {
	case strings.EqualFold(scheme, "Bearer") && value != "":
		c.scheme, c.method = "Bearer", metrics.MethodBearer
		verify = func(ctx context.Context) (*verifiedCredential, error) { return a.verifyBearer(ctx, value) }
	case strings.EqualFold(scheme, "Basic") && value != "":
		c.scheme, c.method = "Basic", metrics.MethodBasic
		user, password, ok := decodeBasic(value)
		switch {
		case !ok:
			return c
		case user == tokenUsername:
			verify = func(ctx context.Context) (*verifiedCredential, error) { return a.verifyBearer(ctx, password) }
		default:
			verify = func(ctx context.Context) (*verifiedCredential, error) {
				return a.verifyAppPassword(ctx, user, password)
			}
		}
	default:
		return c
	}
	ip := originOf(r).ClientIP
	var v *verifiedCredential
	var err error
	if a.failures.exhausted(ip) {
		// Over budget: what is cached still answers, nothing new is tried.
		var known bool
		if v, err, known = a.credentials.cached(a.provider.ClientID, header); !known {
			err = errLimited
		}
	} else {
		v, err = a.credentials.lookup(a.provider.ClientID, header, func() (*verifiedCredential, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), backchannelTimeout)
			defer cancel()
			return verify(ctx)
		})
	}
	switch {
	case errors.Is(err, errLimited) && !a.provider.InterceptHeaderAuth:
		// The header may be the app's own API key: not checked, left to
		// the app, but no 429 for the app's clients.
		return c
	case errors.Is(err, errLimited):
		c.limited = true
		a.metrics.CredentialsLimited()
		a.log.Warn("credential not checked: too many refused from this address", "provider", a.provider.Name,
			"client_ip", clientIPString(originOf(r)), "request_id", requestID(r))
		return c
	case errors.Is(err, errRejected):
		a.failures.failed(ip)
	}
	if err != nil {
		level := "rejected"
		if !errors.Is(err, errRejected) {
			level = "could not be checked"
		}
		a.log.Warn("credential "+level, "provider", a.provider.Name, "scheme", c.scheme,
			"client_ip", clientIPString(originOf(r)), "request_id", requestID(r), "error", err)
		return c
	}
	c.session = &session.Session{
		Provider: a.provider.ClientID, Claims: v.claims, AccessToken: v.raw,
		Sub: claimString(v.claims, "sub"), SID: claimString(v.claims, "sid"),
		TokenExpiry: v.expiry, ExpiresAt: v.expiry,
	}
	return c
}

func decodeBasic(value string) (user, password string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(raw), ":")
	return user, password, ok && user != "" && password != ""
}

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
	if err := a.postForm(ctx, eps.introspection, form, &body); err != nil {
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
