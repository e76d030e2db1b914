package devcore

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// callbackQuery marks the outpost's OAuth callback (spec §4.1, §7.1).
const callbackQuery = "?X-authentik-auth-callback=true"

// registeredRedirectURIs are the two redirect URIs authentik registers for a
// proxy provider, matched byte for byte (spec §3.2):
//
//  1. urljoin(external_host, "outpost.goauthentik.io/callback") + callbackQuery
//  2. external_host + callbackQuery
//
// urljoin resolves a relative reference (RFC 3986 §5.2), so an external_host
// with a path that does not end in "/" loses its last segment in (1): the
// known upstream disagreement with the outpost's own path join (spec §7.1),
// reproduced here on purpose.
func registeredRedirectURIs(pc *ProviderConfig) []string {
	if len(pc.RedirectURIs) > 0 {
		return pc.RedirectURIs
	}
	u, err := url.Parse(pc.ExternalHost)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil
	}
	cb := u.ResolveReference(&url.URL{Path: "outpost.goauthentik.io/callback"})
	return []string{
		cb.Scheme + "://" + cb.Host + cb.EscapedPath() + callbackQuery,
		pc.ExternalHost + callbackQuery,
	}
}

// defaultScopes are the scope mappings a proxy provider gets by default.
var defaultScopes = []string{"openid", "email", "profile", "entitlements", "ak_proxy"}

// providerScopes are the scopes the provider has mappings for:
// scopes_to_request is exactly that list in authentik. offline_access is
// only available when listed there (authentik does not give proxy providers
// its mapping by default).
func providerScopes(pc *ProviderConfig) []string {
	if len(pc.ScopesToRequest) > 0 {
		return pc.ScopesToRequest
	}
	return defaultScopes
}

// filterScope keeps the requested scopes the provider supports, in request
// order, without duplicates; an empty request means all of them (authentik:
// "no scopes requested, defaulting to all configured scopes").
func filterScope(requested string, supported []string) []string {
	out := []string{}
	fields := strings.Fields(requested)
	if len(fields) == 0 {
		fields = supported
	}
	for _, s := range fields {
		if slices.Contains(supported, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func joinScope(scope []string) string { return strings.Join(scope, " ") }

// authorizeRequest is a validated authorization request.
type authorizeRequest struct {
	provider        *ProviderConfig
	clientID        string
	redirectURI     string
	responseType    string
	scope           []string
	state           string
	nonce           string
	challenge       string
	challengeMethod string
	prompt          []string
	// maxAge is OIDC's max_age in seconds, -1 when not sent: a core
	// session signed in longer ago must sign in again.
	maxAge int64
	// acrValues are the levels asked for, in order of preference.
	acrValues []string
}

// authorizeProblem is a refused authorization request. With page set it is
// shown as an error page (the client or redirect URI cannot be trusted);
// otherwise it is sent back to the redirect URI as error= and state=.
type authorizeProblem struct {
	page bool
	code string
	desc string
}

// parseAuthorize validates the parameters of an authorization request
// against the configuration. The returned request is non-nil whenever the
// problem (if any) may be redirected to its redirectURI.
func parseAuthorize(cfg *Config, q url.Values) (*authorizeRequest, *authorizeProblem) {
	// RFC 6749 §3.1: parameters must not be repeated.
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(q[k]) > 1 {
			return nil, &authorizeProblem{page: true, code: "invalid_request", desc: "The " + k + " parameter is repeated."}
		}
	}
	req := &authorizeRequest{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri")}
	req.provider = providerByClientID(cfg, req.clientID)
	if req.provider == nil {
		return nil, &authorizeProblem{page: true, code: "invalid_client", desc: "The client_id is not a known application."}
	}
	if req.redirectURI == "" || !slices.Contains(registeredRedirectURIs(req.provider), req.redirectURI) {
		// Saying what was sent and what is registered is what lets an
		// operator fix the mismatch; both are public (the URL shows the one).
		return nil, &authorizeProblem{page: true, code: "invalid_request", desc: fmt.Sprintf(
			"The redirect URI is not registered for this application. Sent: %q; registered: %s.",
			req.redirectURI, strings.Join(registeredRedirectURIs(req.provider), ", "))}
	}
	req.state = q.Get("state")
	for _, k := range []string{"response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "max_age", "acr_values"} {
		if len(q[k]) > 1 {
			return req, &authorizeProblem{code: "invalid_request", desc: "The " + k + " parameter is repeated."}
		}
	}
	if q.Has("request") {
		return req, &authorizeProblem{code: "request_not_supported", desc: "Request objects are not supported."}
	}
	if q.Has("request_uri") {
		return req, &authorizeProblem{code: "request_uri_not_supported", desc: "Request URIs are not supported."}
	}
	req.responseType = q.Get("response_type")
	switch req.responseType {
	case "code":
	case "":
		return req, &authorizeProblem{code: "invalid_request", desc: "The response_type parameter is missing."}
	default:
		return req, &authorizeProblem{code: "unsupported_response_type", desc: "Only the authorization code flow (response_type=code) is supported."}
	}
	req.challenge = q.Get("code_challenge")
	if req.challenge != "" {
		req.challengeMethod = q.Get("code_challenge_method")
		switch req.challengeMethod {
		case "":
			req.challengeMethod = "plain" // RFC 7636 §4.3
		case "S256", "plain":
		default:
			return req, &authorizeProblem{code: "invalid_request", desc: "code_challenge_method must be S256 or plain."}
		}
		if !validPKCEString(req.challenge) {
			return req, &authorizeProblem{code: "invalid_request", desc: "The code_challenge is malformed."}
		}
	}
	req.prompt = strings.Fields(q.Get("prompt"))
	if slices.Contains(req.prompt, "none") && len(req.prompt) > 1 {
		return req, &authorizeProblem{code: "invalid_request", desc: "prompt=none cannot be combined with other values."}
	}
	req.maxAge = -1
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return req, &authorizeProblem{code: "invalid_request", desc: "max_age must be a non-negative number of seconds."}
		}
		req.maxAge = n
	}
	req.acrValues = strings.Fields(q.Get("acr_values"))
	req.nonce = q.Get("nonce")
	req.scope = filterScope(q.Get("scope"), providerScopes(req.provider))
	return req, nil
}

// tooOld reports whether sess signed in longer ago than the request's
// max_age allows (OIDC Core §3.1.2.1: the person must sign in again).
func (req *authorizeRequest) tooOld(sess *coreSession, now time.Time) bool {
	return req.maxAge >= 0 && now.Sub(sess.authTime) > time.Duration(req.maxAge)*time.Second
}

// reachedACR is the acr to report for a sign-in of user asked for
// acrValues: the first asked that the user reaches (the default, or one
// of the user's acr list), else "" for the default, which acr_values
// being a voluntary request allows: the client decides what it accepts.
func reachedACR(acrValues []string, user *UserConfig) string {
	for _, v := range acrValues {
		if v == acrDefault || slices.Contains(user.ACR, v) {
			return v
		}
	}
	return ""
}

// validPKCEString: RFC 7636 §4.1 code_verifier (and, for S256 and
// reasonable plain use, code_challenge) syntax: 43 to 128 characters of
// [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
func validPKCEString(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// withQuery appends parameters to a redirect URI that may already carry a
// query (the registered ones do).
func withQuery(base string, v url.Values) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + v.Encode()
}

// redirectWithError sends an authorization error back to the client
// (RFC 6749 §4.1.2.1).
func redirectWithError(w http.ResponseWriter, r *http.Request, req *authorizeRequest, code, desc string) {
	v := url.Values{"error": {code}}
	if desc != "" {
		v.Set("error_description", desc)
	}
	if req.state != "" {
		v.Set("state", req.state)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, withQuery(req.redirectURI, v), http.StatusFound)
}

// maxFormBytes bounds form bodies.
const maxFormBytes = 64 << 10

// handleAuthorize is /application/o/authorize/. GET (or a POST without the
// login form's fields) is an authorization request; a POST from the login
// form signs the person in and continues it.
func (p *identityProvider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	cfg := p.s.config()
	q := r.URL.Query()
	isLogin := false
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			p.renderMessage(w, http.StatusBadRequest, pageBadRequest, "The request could not be read.")
			return
		}
		q = r.PostForm
		isLogin = q.Has("csrf_token")
	}
	req, prob := parseAuthorize(cfg, q)
	if prob != nil {
		p.s.log.Warn("authorization request refused", "error", prob.code, "description", prob.desc, "client_id", q.Get("client_id"), "redirect_uri", q.Get("redirect_uri"))
		if prob.page {
			p.renderMessage(w, http.StatusBadRequest, pageBadRequest, prob.desc)
			return
		}
		redirectWithError(w, r, req, prob.code, prob.desc)
		return
	}
	if len(req.provider.ClientSecret) < 32 && req.provider.SigningKey == "" {
		// Tokens could not be signed (errShortSecret): say so now rather
		// than after the person signed in.
		p.s.log.Error("cannot sign tokens for this provider", "application", appSlug(req.provider), "error", errShortSecret)
		p.renderMessage(w, http.StatusInternalServerError, pageMisconfigured,
			appName(req.provider)+" cannot sign anyone in: its client_secret is shorter than 32 bytes, too short for the HS256 tokens of a proxy provider.")
		return
	}
	if isLogin {
		p.handleLogin(w, r, cfg, req)
		return
	}
	sess := p.currentSession(r, cfg)
	if sess != nil && (slices.Contains(req.prompt, "login") || req.tooOld(sess, p.now())) {
		sess = nil // re-authentication asked for: show the form
	}
	if sess == nil {
		if slices.Contains(req.prompt, "none") {
			redirectWithError(w, r, req, "login_required", "No one is signed in.")
			return
		}
		p.renderLogin(w, r, req, "", "", http.StatusOK)
		return
	}
	p.grantCode(w, r, cfg, req, sess)
}

// grantCode finishes an authorization request for a signed-in person: the
// provider's allowed_groups decide, then a single-use code goes back to the
// client.
func (p *identityProvider) grantCode(w http.ResponseWriter, r *http.Request, cfg *Config, req *authorizeRequest, sess *coreSession) {
	user := userByName(cfg, sess.username)
	if user == nil {
		p.renderLogin(w, r, req, "", "", http.StatusOK)
		return
	}
	if !userAllowed(req.provider, user) {
		p.s.log.Warn("authorization denied by allowed_groups", "user", user.Username, "application", appSlug(req.provider))
		p.renderMessage(w, http.StatusForbidden, pageAccessDenied,
			"You are not allowed to access "+appName(req.provider)+". Ask an administrator to add you to one of its groups.")
		return
	}
	code := randomToken()
	var gone, full bool
	p.locked(func(st *idpState, now time.Time) {
		if _, ok := st.sessions[sess.sid]; !ok {
			gone = true
			return
		}
		if !p.roomLocked(now, func() int { return len(st.codes) }, 1, maxAuthCodes) {
			full = true
			return
		}
		g := &grant{clientID: req.clientID, username: user.Username, sid: sess.sid, authTime: sess.authTime,
			acr: reachedACR(req.acrValues, user), nonce: req.nonce}
		st.newGrant(g, now.Add(authCodeTTL))
		st.codes[sha256Hex(code)] = &authCode{
			clientID: req.clientID, redirectURI: req.redirectURI, scope: req.scope,
			challenge: req.challenge, challengeMethod: req.challengeMethod,
			expires: now.Add(authCodeTTL), grant: g,
		}
	})
	switch {
	case gone:
		p.renderLogin(w, r, req, "", "", http.StatusOK)
		return
	case full:
		redirectWithError(w, r, req, "temporarily_unavailable", "Too many pending authorizations.")
		return
	}
	v := url.Values{"code": {code}}
	if req.state != "" {
		v.Set("state", req.state)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, withQuery(req.redirectURI, v), http.StatusFound)
}
