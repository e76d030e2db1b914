package devcore

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// clientAuth is how a request authenticated its client: client_secret_basic
// (Authorization: Basic) or client_secret_post (form fields).
type clientAuth struct {
	id     string
	secret string
	basic  bool
}

// clientCredentials reads the client's credentials from a parsed form
// request. Using both methods at once is an error (RFC 6749 §2.3).
func clientCredentials(r *http.Request) (clientAuth, error) {
	form := clientAuth{id: r.PostForm.Get("client_id"), secret: r.PostForm.Get("client_secret")}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return form, nil
	}
	// RFC 6749 §2.3.1: both parts are form-urlencoded before encoding.
	if u, err := url.QueryUnescape(user); err == nil {
		user = u
	}
	if s, err := url.QueryUnescape(pass); err == nil {
		pass = s
	}
	if form.secret != "" || (form.id != "" && form.id != user) {
		return clientAuth{}, errors.New("the client authenticated with more than one method")
	}
	return clientAuth{id: user, secret: pass, basic: true}, nil
}

// authenticateClient is the confidential client (provider) the credentials
// prove, or nil. A provider without a secret never authenticates.
func authenticateClient(cfg *Config, ca clientAuth) *ProviderConfig {
	pc := providerByClientID(cfg, ca.id)
	if pc == nil || pc.ClientSecret == "" {
		return nil
	}
	if subtle.ConstantTimeCompare([]byte(ca.secret), []byte(pc.ClientSecret)) != 1 {
		return nil
	}
	return pc
}

// repeatedParam is the first of the given form parameters that is repeated
// (RFC 6749 §3.2: parameters must not be included more than once).
func repeatedParam(v url.Values, keys ...string) string {
	for _, k := range keys {
		if len(v[k]) > 1 {
			return k
		}
	}
	return ""
}

// pkceVerified checks a code_verifier against the challenge the code was
// issued with (RFC 7636 §4.6). A verifier without a challenge is refused
// too, so a code can not be downgraded (RFC 9700 §2.1.1).
func pkceVerified(challenge, method, verifier string) (bool, string) {
	if challenge == "" {
		if verifier != "" {
			return false, "A code_verifier was sent, but no code_challenge was."
		}
		return true, ""
	}
	if verifier == "" {
		return false, "The code_verifier is missing."
	}
	if !validPKCEString(verifier) {
		return false, "The code_verifier is malformed."
	}
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) != 1 {
		return false, "The code_verifier does not match the code_challenge."
	}
	return true, ""
}

// handleToken is POST /application/o/token/.
func (p *identityProvider) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, "invalid_request", "The request body could not be read.")
		return
	}
	if k := repeatedParam(r.PostForm, "grant_type", "code", "redirect_uri", "code_verifier", "refresh_token",
		"scope", "username", "password", "client_id", "client_secret"); k != "" {
		writeOAuthError(w, "invalid_request", "The "+k+" parameter is repeated.")
		return
	}
	ca, err := clientCredentials(r)
	if err != nil {
		writeOAuthError(w, "invalid_request", err.Error())
		return
	}
	cfg := p.s.config()
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
		p.tokenFromCode(w, r, cfg, ca)
	case "refresh_token":
		p.tokenFromRefresh(w, r, cfg, ca)
	case "client_credentials", "password":
		// authentik treats both alike: username + app password.
		p.tokenFromAppPassword(w, r, cfg, ca)
	case "":
		writeOAuthError(w, "invalid_request", "The grant_type parameter is missing.")
	default:
		writeOAuthError(w, "unsupported_grant_type", "Grant type "+gt+" is not supported.")
	}
}

// tokenFromCode is the authorization_code grant.
func (p *identityProvider) tokenFromCode(w http.ResponseWriter, r *http.Request, cfg *Config, ca clientAuth) {
	pc := authenticateClient(cfg, ca)
	if pc == nil {
		writeOAuthError(w, "invalid_client", "Client authentication failed.")
		return
	}
	code := r.PostForm.Get("code")
	if code == "" {
		writeOAuthError(w, "invalid_request", "The code parameter is missing.")
		return
	}
	redirectURI := r.PostForm.Get("redirect_uri")
	verifier := r.PostForm.Get("code_verifier")
	validity := accessTokenValidity(pc)
	var (
		problem string
		g       *grant
		scope   []string
	)
	p.locked(func(st *idpState, now time.Time) {
		c := st.codes[sha256Hex(code)]
		switch {
		case c == nil:
			problem = "The code is not valid."
			return
		case c.clientID != pc.ClientID:
			// Another client's code: not consumed, it is not ours.
			problem = "The code was not issued to this client."
			return
		case c.used:
			// RFC 6749 §4.1.2: a replayed code revokes what it issued.
			c.grant.revoked = true
			problem = "The code was already used; the tokens issued from it are revoked."
			p.s.log.Warn("authorization code replayed, revoking its tokens", "client_id", pc.ClientID)
			return
		case !now.Before(c.expires):
			delete(st.codes, sha256Hex(code))
			problem = "The code expired."
			return
		}
		// From here on the code is spent, whatever the outcome.
		c.used = true
		if redirectURI != c.redirectURI {
			problem = "The redirect_uri does not match the authorization request."
			return
		}
		if ok, desc := pkceVerified(c.challenge, c.challengeMethod, verifier); !ok {
			problem = desc
			return
		}
		extendGrant(c.grant, now.Add(validity))
		g, scope = c.grant, c.scope
	})
	if problem != "" {
		writeOAuthError(w, "invalid_grant", problem)
		return
	}
	p.issueForGrant(w, r, cfg, pc, g, scope)
}

// tokenFromRefresh is the refresh_token grant. Refresh tokens are single
// use: each exchange returns a new one and the old one is then refused.
func (p *identityProvider) tokenFromRefresh(w http.ResponseWriter, r *http.Request, cfg *Config, ca clientAuth) {
	pc := authenticateClient(cfg, ca)
	if pc == nil {
		writeOAuthError(w, "invalid_client", "Client authentication failed.")
		return
	}
	raw := r.PostForm.Get("refresh_token")
	if raw == "" {
		writeOAuthError(w, "invalid_request", "The refresh_token parameter is missing.")
		return
	}
	requested := strings.Fields(r.PostForm.Get("scope"))
	var (
		problem, errCode string
		g                *grant
		scope            []string
	)
	p.locked(func(st *idpState, now time.Time) {
		t := st.tokens[sha256Hex(raw)]
		switch {
		case t == nil || t.kind != kindRefresh || t.clientID != pc.ClientID:
			problem = "The refresh token is not valid."
			return
		case t.rotated:
			problem = "The refresh token was already used."
			p.s.log.Warn("rotated refresh token used again", "client_id", pc.ClientID, "user", t.grant.username)
			return
		case !t.live(now):
			problem = "The refresh token expired or was revoked."
			return
		}
		scope = t.scope
		if len(requested) > 0 {
			for _, s := range requested {
				if !slices.Contains(t.scope, s) {
					errCode, problem = "invalid_scope", "The scope "+s+" was not granted."
					return
				}
			}
			scope = filterScope(strings.Join(requested, " "), t.scope)
		}
		t.rotated = true
		extendGrant(t.grant, now.Add(refreshTokenTTL))
		g = t.grant
	})
	if problem != "" {
		if errCode == "" {
			errCode = "invalid_grant"
		}
		writeOAuthError(w, errCode, problem)
		return
	}
	p.issueForGrant(w, r, cfg, pc, g, scope)
}

// tokenFromAppPassword is the client_credentials (and password) grant the
// outpost uses for HTTP Basic credentials (spec §10): client_id, username
// and one of the user's app passwords; no client secret, as authentik
// allows for app passwords. No core session: no sid, no refresh token.
func (p *identityProvider) tokenFromAppPassword(w http.ResponseWriter, r *http.Request, cfg *Config, ca clientAuth) {
	pc := providerByClientID(cfg, ca.id)
	if pc == nil {
		writeOAuthError(w, "invalid_client", "Unknown client.")
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if username == "" || password == "" {
		writeOAuthError(w, "invalid_request", "The username and password parameters are required.")
		return
	}
	user := userByName(cfg, username)
	if !appPasswordMatches(cfg, user, password) {
		p.s.log.Warn("app password login failed", "username", username, "client_id", pc.ClientID)
		writeOAuthError(w, "invalid_grant", "Invalid username or app password.")
		return
	}
	if !userAllowed(pc, user) {
		p.s.log.Warn("app password login denied by allowed_groups", "username", username, "client_id", pc.ClientID)
		writeOAuthError(w, "invalid_grant", "The user may not use this application.")
		return
	}
	scope := filterScope(r.PostForm.Get("scope"), providerScopes(pc))
	g := &grant{clientID: pc.ClientID, username: user.Username}
	p.locked(func(st *idpState, now time.Time) {
		g.authTime = now
		st.newGrant(g, now.Add(accessTokenValidity(pc)))
	})
	p.respondIssued(w, issueRequest{
		cfg: cfg, provider: pc, user: user, grant: g, scope: scope,
		issuer: issuerURL(requestBaseURL(r), appSlug(pc)),
	})
}

// respondIssued issues the tokens and writes the token response.
func (p *identityProvider) respondIssued(w http.ResponseWriter, in issueRequest) {
	out, err := p.issue(in)
	switch {
	case errors.Is(err, errFull):
		writeOAuthError(w, "temporarily_unavailable", "Too many tokens are live; try again later.")
		return
	case err != nil:
		p.s.log.Error("issuing tokens", "client_id", in.provider.ClientID, "error", err)
		writeOAuthError(w, "server_error", "Tokens could not be issued.")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// issueForGrant issues tokens for a login's grant, after checking that the
// user still exists and may still use the application: a code or refresh
// token outlives neither.
func (p *identityProvider) issueForGrant(w http.ResponseWriter, r *http.Request, cfg *Config, pc *ProviderConfig, g *grant, scope []string) {
	user := userByName(cfg, g.username)
	if user == nil || !userAllowed(pc, user) {
		writeOAuthError(w, "invalid_grant", "The user may no longer use this application.")
		return
	}
	p.respondIssued(w, issueRequest{
		cfg: cfg, provider: pc, user: user, grant: g, scope: scope,
		issuer:  issuerURL(requestBaseURL(r), appSlug(pc)),
		refresh: slices.Contains(scope, "offline_access"),
	})
}
