package devcore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// idpState is the identity provider's memory: core sessions, authorization
// codes and issued tokens. Guarded by identityProvider.mu; reached only
// through identityProvider.locked. Codes and tokens are keyed by the SHA-256
// of their value, so the state itself holds no usable credential.
type idpState struct {
	sessions  map[string]*coreSession // by sid
	codes     map[string]*authCode    // by sha256 of the code
	tokens    map[string]*tokenRecord // by sha256 of the token (access and refresh)
	grants    map[string]*grant       // by id
	lastSweep time.Time
}

func (st *idpState) init() {
	st.sessions = map[string]*coreSession{}
	st.codes = map[string]*authCode{}
	st.tokens = map[string]*tokenRecord{}
	st.grants = map[string]*grant{}
}

// grant is one authorization: everything issued from one authorization
// code (its tokens and all refresh-rotated descendants), or from one
// client_credentials request. Revoking it invalidates all of them: when its
// code is replayed (RFC 6749 §4.1.2) or its core session ends (authentik
// deletes tokens with their session).
type grant struct {
	id       string
	clientID string
	username string
	sid      string // core session; "" for client_credentials
	authTime time.Time
	acr      string // "" is acrDefault
	nonce    string
	// expires is the latest expiry of anything issued under the grant; the
	// record (and the used code pointing at it) is kept until then.
	expires time.Time
	revoked bool
}

// authCode is an issued authorization code.
type authCode struct {
	clientID        string
	redirectURI     string
	scope           []string
	challenge       string
	challengeMethod string
	expires         time.Time
	used            bool
	grant           *grant
}

type tokenKind int

const (
	kindAccess tokenKind = iota + 1
	kindRefresh
)

// tokenRecord is an issued access or refresh token.
type tokenRecord struct {
	kind     tokenKind
	clientID string
	grant    *grant
	scope    []string
	// claims are the ID-token claims issued with the token (what
	// introspection returns).
	claims  map[string]any
	expires time.Time
	// rotated: a refresh token already exchanged (refresh tokens are
	// single use).
	rotated bool
}

// live reports whether the token can still be used at now.
func (t *tokenRecord) live(now time.Time) bool {
	return now.Before(t.expires) && !t.grant.revoked && !t.rotated
}

// errFull: a state limit is reached even after dropping expired entries.
var errFull = errors.New("devcore state is full")

// sweep drops expired sessions, codes, tokens and grants and returns the
// sids of the sessions that expired (they end like any other: SESSION_END).
func (st *idpState) sweep(now time.Time) []string {
	st.lastSweep = now
	var ended []string
	for sid, s := range st.sessions {
		if !now.Before(s.expires) {
			delete(st.sessions, sid)
			st.revokeSessionLocked(sid)
			ended = append(ended, sid)
		}
	}
	for k, t := range st.tokens {
		if !now.Before(t.expires) || t.grant.revoked || t.rotated {
			delete(st.tokens, k)
		}
	}
	for k, c := range st.codes {
		// An unused code lives until it expires; a used one stays as a
		// tombstone while its grant can still have live tokens, so a
		// replay can revoke them.
		if (!c.used && !now.Before(c.expires)) || (c.used && !now.Before(c.grant.expires)) {
			delete(st.codes, k)
		}
	}
	for id, g := range st.grants {
		if !now.Before(g.expires) {
			delete(st.grants, id)
		}
	}
	return ended
}

// roomLocked reports whether need more entries fit under limit in a map
// whose size is n(), sweeping expired entries first when they do not.
// Called with mu held.
func (p *identityProvider) roomLocked(now time.Time, n func() int, need, limit int) bool {
	if n()+need <= limit {
		return true
	}
	p.ended = append(p.ended, p.st.sweep(now)...)
	return n()+need <= limit
}

// revokeSessionLocked revokes every grant tied to the core session and drops
// its pending codes.
func (st *idpState) revokeSessionLocked(sid string) {
	for _, g := range st.grants {
		if g.sid == sid {
			g.revoked = true
		}
	}
	for k, c := range st.codes {
		if c.grant.sid == sid {
			delete(st.codes, k)
		}
	}
}

// newGrant registers a grant, kept at least until keep.
func (st *idpState) newGrant(g *grant, keep time.Time) {
	g.id = randomHex(16)
	g.expires = keep
	st.grants[g.id] = g
}

// extendGrant makes the grant outlive something issued under it.
func extendGrant(g *grant, until time.Time) {
	if until.After(g.expires) {
		g.expires = until
	}
}

// addToken records an issued token under its grant.
func (st *idpState) addToken(raw string, t *tokenRecord) {
	st.tokens[sha256Hex(raw)] = t
	extendGrant(t.grant, t.expires)
}

// liveToken is the live token record for raw, or nil.
func (st *idpState) liveToken(raw string, now time.Time) *tokenRecord {
	if raw == "" {
		return nil
	}
	t := st.tokens[sha256Hex(raw)]
	if t == nil || !t.live(now) {
		return nil
	}
	return t
}

// scopeClaims are the claims of authentik 2026.2's default scope mappings
// (blueprints system/providers-oauth2.yaml and providers-proxy.yaml) for
// the given scopes. Scopes without a default mapping add nothing.
func scopeClaims(cfg *Config, u *UserConfig, scope []string) map[string]any {
	c := map[string]any{}
	for _, s := range scope {
		switch s {
		case "email":
			c["email"] = u.Email
			c["email_verified"] = false
		case "profile":
			// authentik keeps only a full name; it is the given name too.
			c["name"] = u.Name
			c["given_name"] = u.Name
			c["preferred_username"] = u.Username
			c["nickname"] = u.Username
			c["groups"] = userGroups(u)
		case "entitlements":
			// The devcore has no application entitlements.
			c["entitlements"] = []string{}
			c["roles"] = []string{}
		case "ak_proxy":
			c["ak_proxy"] = map[string]any{
				"user_attributes": userAttributes(cfg, u),
				"is_superuser":    u.IsSuperuser,
			}
		}
	}
	return c
}

// userGroups is the user's group names, without duplicates, never nil.
func userGroups(u *UserConfig) []string {
	out := make([]string, 0, len(u.Groups))
	for _, g := range u.Groups {
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// userAttributes is authentik's User.group_attributes(): the attributes of
// the user's groups merged in group-name order, then the user's own over
// them. Merging is deep: objects merge key by key, lists concatenate, any
// other value replaces. Config values are copied, never shared.
func userAttributes(cfg *Config, u *UserConfig) map[string]any {
	out := map[string]any{}
	names := userGroups(u)
	slices.Sort(names)
	for _, n := range names {
		for i := range cfg.Groups {
			if cfg.Groups[i].Name == n {
				mergeInto(out, normalize(cfg.Groups[i].Attributes))
			}
		}
	}
	mergeInto(out, normalize(u.Attributes))
	return out
}

// mergeInto deep-merges src into dst (dst owns its values).
func mergeInto(dst map[string]any, src any) {
	m, ok := src.(map[string]any)
	if !ok {
		return
	}
	for k, v := range m {
		switch sv := v.(type) {
		case map[string]any:
			if dv, ok := dst[k].(map[string]any); ok {
				mergeInto(dv, sv)
				continue
			}
			nm := map[string]any{}
			mergeInto(nm, sv)
			dst[k] = nm
		case []any:
			if dv, ok := dst[k].([]any); ok {
				dst[k] = append(slices.Clip(dv), sv...)
				continue
			}
			dst[k] = slices.Clone(sv)
		default:
			dst[k] = v
		}
	}
}

// normalize deep-copies a YAML-decoded value into JSON-encodable form:
// mappings with non-string keys become map[string]any with the keys
// printed, so encoding/json never meets map[any]any.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[fmt.Sprint(k)] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	case nil:
		return nil
	}
	return v
}

// idTokenInput is what one ID token is made of.
type idTokenInput struct {
	cfg      *Config
	provider *ProviderConfig
	user     *UserConfig
	scope    []string
	issuer   string
	now      time.Time
	expires  time.Time
	authTime time.Time
	acr      string // "" is acrDefault
	nonce    string
	sid      string // "" for client_credentials: no sid, no amr
}

// acrDefault is authentik's default acr.
const acrDefault = "goauthentik.io/providers/oauth2/default"

// subject is the stand-in for authentik's hashed user id (sub_mode
// hashed_user_id): sha256("<username>-devcore"), lowercase hex.
func subject(username string) string { return sha256Hex(username + "-devcore") }

// idTokenClaims are the claims of an ID token as authentik's IDToken.new
// builds them for a proxy provider (claims included in the ID token): the
// standard ones, then the scope-mapping claims over them.
func idTokenClaims(in idTokenInput) map[string]any {
	c := map[string]any{
		"iss":       in.issuer,
		"sub":       subject(in.user.Username),
		"aud":       in.provider.ClientID,
		"exp":       in.expires.Unix(),
		"iat":       in.now.Unix(),
		"auth_time": in.authTime.Unix(),
		"acr":       acrDefault,
	}
	if in.acr != "" {
		c["acr"] = in.acr
	}
	if in.sid != "" {
		// A password login at the form; authentik reads the method from
		// the session's login event, which app-password grants lack.
		c["amr"] = []string{"pwd"}
		c["sid"] = in.sid
	}
	if in.nonce != "" {
		c["nonce"] = in.nonce
	}
	maps.Copy(c, scopeClaims(in.cfg, in.user, in.scope))
	return c
}

// accessTokenClaims are the ID-token claims plus what authentik's
// IDToken.to_access_token adds: azp, a random uid, and the scope.
func accessTokenClaims(idClaims map[string]any, clientID string, scope []string) map[string]any {
	c := maps.Clone(idClaims)
	c["azp"] = clientID
	c["uid"] = randomHex(20)
	c["scope"] = joinScope(scope)
	return c
}

// errShortSecret: HS256 needs a key of at least 256 bits (RFC 7518 §3.2);
// go-jose refuses shorter ones, and so does the devcore, with a clear error.
var errShortSecret = errors.New("client_secret is shorter than 32 bytes, too short for an HS256 key")

// signHS256 signs claims as a compact JWT, HS256 keyed with secret, which is
// how authentik signs for providers without a signing key (proxy providers).
func signHS256(secret string, claims map[string]any) (string, error) {
	if len(secret) < 32 {
		return "", errShortSecret
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

// verifyHS256 checks a compact JWT's HS256 signature with secret and returns
// its claims. Time claims are not checked (callers decide).
func verifyHS256(secret, token string) (map[string]any, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return nil, err
	}
	var c map[string]any
	if err := tok.Claims([]byte(secret), &c); err != nil {
		return nil, err
	}
	return c, nil
}

// issued is the token endpoint's success body.
type issued struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// issueRequest is one issuance at the token endpoint.
type issueRequest struct {
	cfg      *Config
	provider *ProviderConfig
	user     *UserConfig
	grant    *grant
	scope    []string
	issuer   string
	// refresh: also issue a refresh token (the scope has offline_access
	// and the grant allows it).
	refresh bool
}

// issue mints the ID token, the access token and, when asked, a refresh
// token, and records them under the grant, which must be registered and
// kept at least for the access token's validity. A grant revoked meanwhile
// (code replay, session end) leaves the new tokens dead on arrival.
func (p *identityProvider) issue(in issueRequest) (*issued, error) {
	now := p.now()
	validity := accessTokenValidity(in.provider)
	exp := now.Add(validity)
	idc := idTokenClaims(idTokenInput{
		cfg: in.cfg, provider: in.provider, user: in.user, scope: in.scope,
		issuer: in.issuer, now: now, expires: exp, authTime: in.grant.authTime,
		acr: in.grant.acr, nonce: in.grant.nonce, sid: in.grant.sid,
	})
	idToken, err := signToken(in.cfg, in.provider, idc)
	if err != nil {
		return nil, err
	}
	access, err := signToken(in.cfg, in.provider, accessTokenClaims(idc, in.provider.ClientID, in.scope))
	if err != nil {
		return nil, err
	}
	out := &issued{
		AccessToken: access,
		TokenType:   "Bearer",
		ExpiresIn:   int64(validity / time.Second),
		IDToken:     idToken,
		Scope:       joinScope(in.scope),
	}
	if in.refresh {
		out.RefreshToken = randomToken()
	}
	var full bool
	p.locked(func(st *idpState, lockNow time.Time) {
		need := 1
		if in.refresh {
			need = 2
		}
		if !p.roomLocked(lockNow, func() int { return len(st.tokens) }, need, maxTokens) {
			full = true
			return
		}
		st.addToken(access, &tokenRecord{kind: kindAccess, clientID: in.provider.ClientID,
			grant: in.grant, scope: in.scope, claims: idc, expires: exp})
		if in.refresh {
			st.addToken(out.RefreshToken, &tokenRecord{kind: kindRefresh, clientID: in.provider.ClientID,
				grant: in.grant, scope: in.scope, claims: idc, expires: now.Add(refreshTokenTTL)})
		}
	})
	if full {
		return nil, errFull
	}
	return out, nil
}

// randomToken is an opaque credential: 32 random bytes, hex.
func randomToken() string { return randomHex(32) }
