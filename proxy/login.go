package proxy

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/outpost-dev/outpost/session"
	"golang.org/x/oauth2"
)

// The outpost's own paths on every provider host (spec §4.1).
const (
	pathStart    = reservedPrefix + "/start"
	pathCallback = reservedPrefix + "/callback"
	pathSignOut  = reservedPrefix + "/sign_out"
	// pathSignedOut is the outpost's own page after a sign-out, and the
	// post_logout_redirect_uri a standalone issuer sends the browser back to.
	pathSignedOut = reservedPrefix + "/signed_out"
)

// startLogin sends the browser to the authorization endpoint, with PKCE
// (S256) and a nonce always, and a state bound to a fresh login attempt.
// redirect is the already validated post-login target ("" = external host).
func (a *application) startLogin(w http.ResponseWriter, r *http.Request, redirect string, retry bool) {
	a.startLoginFor(w, r, redirect, retry, nil)
}

// startLoginFor is startLogin, for a step-up when su is set (stepup.go).
func (a *application) startLoginFor(w http.ResponseWriter, r *http.Request, redirect string, retry bool, su *stepUpAsk) {
	eps, err := a.oidc.endpoints(r.Context())
	if err != nil {
		a.errorPage(w, r, http.StatusBadGateway, "Sign-in is unavailable", "The identity provider could not be reached. Try again in a moment.", err)
		return
	}
	attempt := loginAttempt{ID: session.NewID(), Verifier: oauth2.GenerateVerifier(), Nonce: randomToken(32)}
	state, err := signState(a.provider.CookieSecret, a.provider.ClientID, loginState{SID: attempt.ID, Redirect: redirect, Retry: retry, StepUp: su})
	if err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The sign-in could not be prepared.", err)
		return
	}
	value, _ := json.Marshal(attempt)
	ck, err := a.loginCookies.Cookie(string(value), loginWindow)
	if err != nil {
		a.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The sign-in could not be prepared.", err)
		return
	}
	http.SetCookie(w, ck)
	a.metrics.LoginStarted()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(attempt.Verifier), oidc.Nonce(attempt.Nonce)}
	if su != nil {
		opts = append(opts, stepUpAuthParams(su)...)
	}
	target := eps.oauth.AuthCodeURL(state, opts...)
	// An issuer that refuses the redirect URI never sends the browser back:
	// at debug level the log shows what was sent.
	a.log.Debug("sign-in started", "provider", a.provider.Name, "redirect_uri", eps.oauth.RedirectURL, "request_id", requestID(r))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

// callback finishes a login: it checks the state against the browser's
// login attempt, redeems the code with the PKCE verifier, verifies the token
// (signature, issuer, audience, expiry, nonce) and starts a session under a
// new id, so no cookie planted before the login is ever adopted.
func (a *application) callback(w http.ResponseWriter, r *http.Request, q url.Values) {
	st, err := parseState(a.provider.CookieSecret, a.provider.ClientID, q.Get("state"))
	if err != nil {
		a.metrics.LoginFailed("invalid_state")
		a.errorPage(w, r, http.StatusBadRequest, "Sign-in failed", "This sign-in link is invalid or has expired. Start again from the application.", err)
		return
	}
	attempt, err := a.readAttempt(r)
	if err != nil || subtle.ConstantTimeCompare([]byte(attempt.ID), []byte(st.SID)) != 1 {
		// A stale or foreign cookie (another tab, a restarted login, a
		// cookie from before): start over once rather than show a bare 400.
		http.SetCookie(w, a.loginCookies.Expire())
		if st.Retry {
			a.metrics.LoginFailed("attempt_cookie_missing")
			a.errorPage(w, r, http.StatusBadRequest, "Sign-in failed",
				"Your browser did not keep the sign-in cookie. Allow cookies for this site and try again.", errors.New("login attempt cookie missing after a restart"))
			return
		}
		a.log.Info("login attempt cookie stale or missing; restarting login", "provider", a.provider.Name, "error", err)
		a.startLoginFor(w, r, st.Redirect, true, st.StepUp)
		return
	}
	// The attempt is spent whatever happens next: a code cannot be tried twice.
	http.SetCookie(w, a.loginCookies.Expire())
	if e := q.Get("error"); e != "" {
		a.metrics.LoginFailed("idp_refused")
		// The redirect URI is the usual culprit: the log names what was sent.
		a.errorPage(w, r, http.StatusForbidden, "Sign-in was refused", "The identity provider said: "+e+" "+q.Get("error_description"),
			fmt.Errorf("%s: %s (redirect_uri sent: %s)", e, q.Get("error_description"), providerRedirectURI(a.provider)))
		return
	}
	code := q.Get("code")
	if code == "" {
		a.metrics.LoginFailed("missing_code")
		a.errorPage(w, r, http.StatusBadRequest, "Sign-in failed", "The identity provider sent no authorization code.", errors.New("callback without code"))
		return
	}
	eps, err := a.oidc.endpoints(r.Context())
	if err != nil {
		a.metrics.LoginFailed("idp_unreachable")
		a.errorPage(w, r, http.StatusBadGateway, "Sign-in is unavailable", "The identity provider could not be reached.", err)
		return
	}
	ctx, cancel := context.WithTimeout(a.oidc.clientContext(r.Context()), backchannelTimeout)
	defer cancel()
	tok, err := eps.oauth.Exchange(ctx, code, oauth2.VerifierOption(attempt.Verifier))
	if err != nil {
		a.metrics.LoginFailed("code_exchange")
		a.errorPage(w, r, http.StatusBadGateway, "Sign-in failed", "The identity provider did not accept the sign-in.",
			fmt.Errorf("%w (redirect_uri sent: %s)", err, eps.oauth.RedirectURL))
		return
	}
	verified, err := a.verifyTokens(ctx, eps, tok, attempt.Nonce)
	if err != nil {
		a.metrics.LoginFailed("token_invalid")
		a.errorPage(w, r, http.StatusUnauthorized, "Sign-in failed", "The identity provider's answer could not be verified.", err)
		return
	}
	if st.StepUp != nil && a.finishStepUp(w, r, st, verified, tok) {
		return
	}
	s := &session.Session{
		ID:           session.NewID(),
		Provider:     a.provider.ClientID,
		CreatedAt:    time.Now(),
		RefreshToken: tok.RefreshToken,
	}
	verified.applyTo(s)
	s.ExpiresAt = a.sessionEnd(s, tok, s.CreatedAt)
	if err := a.store.Save(r.Context(), s); err != nil {
		a.metrics.LoginFailed("session_store")
		a.errorPage(w, r, http.StatusServiceUnavailable, "Sign-in failed", "The session could not be stored.", err)
		return
	}
	if err := a.setSessionCookie(w, s); err != nil {
		a.metrics.LoginFailed("session_cookie")
		a.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The session cookie could not be written.", err)
		return
	}
	a.expirePlainCookies(w, r)
	a.metrics.LoginSucceeded()
	a.log.Info("signed in", "provider", a.provider.Name, "user", claimString(s.Claims, "preferred_username"), "sub", s.Sub)
	a.landAfterSignIn(w, r, st.Redirect)
}

// landAfterSignIn sends the browser on to target, the URL it asked for
// before signing in ("" for the external host).
func (a *application) landAfterSignIn(w http.ResponseWriter, r *http.Request, target string) {
	if target == "" {
		target = a.provider.ExternalURL.String()
	}
	w.Header().Set("Cache-Control", "no-store")
	// The callback URL holds the code and state: the app must not see it
	// as a Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusFound)
}

func (a *application) readAttempt(r *http.Request) (*loginAttempt, error) {
	raw, err := a.loginCookies.SessionID(r)
	if err != nil {
		return nil, err
	}
	var att loginAttempt
	if err := json.Unmarshal([]byte(raw), &att); err != nil || att.ID == "" || att.Verifier == "" || att.Nonce == "" {
		return nil, fmt.Errorf("login attempt cookie unreadable")
	}
	return &att, nil
}

// verifiedTokens is the outcome of a token response that passed every check.
type verifiedTokens struct {
	claims   map[string]any
	raw      string // X-authentik-jwt
	idToken  string
	accessTk string
	expiry   time.Time
}

func (v *verifiedTokens) applyTo(s *session.Session) {
	s.Claims = v.claims
	s.Sub = claimString(v.claims, "sub")
	s.SID = claimString(v.claims, "sid")
	s.AccessToken = v.raw
	s.IDToken = v.idToken
	s.TokenExpiry = v.expiry
}

// verifyTokens checks a token response. Core providers: the access token is
// a JWT with the claims (spec §7.5). Standalone: the id_token. nonce, when
// not empty, must appear in a verified token (refresh responses carry none).
func (a *application) verifyTokens(ctx context.Context, eps *endpoints, tok *oauth2.Token, nonce string) (*verifiedTokens, error) {
	idRaw, _ := tok.Extra("id_token").(string)
	var idTok *oidc.IDToken
	if idRaw != "" {
		t, err := eps.verifier.Verify(ctx, idRaw)
		if err != nil {
			return nil, fmt.Errorf("id_token: %w", explainCoreIssuer(err, idRaw, eps.coreIssuer))
		}
		idTok = t
	}
	primary, raw := idTok, idRaw
	if eps.accessTokenClaims {
		t, err := eps.verifier.Verify(ctx, tok.AccessToken)
		if err != nil {
			return nil, fmt.Errorf("access_token: %w", explainCoreIssuer(err, tok.AccessToken, eps.coreIssuer))
		}
		primary, raw = t, tok.AccessToken
	}
	if primary == nil {
		return nil, errors.New("the token response has no id_token")
	}
	var claims map[string]any
	if err := primary.Claims(&claims); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	_, hasAuthTime := claims["auth_time"]
	_, hasACR := claims["acr"]
	if nonce != "" && primary.Nonce != nonce && (idTok == nil || idTok.Nonce != nonce) {
		return nil, errors.New("nonce does not match this login")
	}
	if idTok != nil && idTok.Subject != primary.Subject {
		return nil, errors.New("id_token and access_token name different subjects")
	}
	if eps.userinfo != nil && tok.AccessToken != "" {
		if err := mergeUserinfo(ctx, eps.userinfo, tok, claims); err != nil {
			return nil, err
		}
	}
	if _, ok := claims["ak_proxy"].(map[string]any); !ok {
		delete(claims, "ak_proxy")
	}
	signInFromTokens(claims, primary, idTok, map[string]bool{"auth_time": hasAuthTime, "acr": hasACR})
	return &verifiedTokens{claims: claims, raw: raw, idToken: idRaw, accessTk: tok.AccessToken, expiry: primary.Expiry}, nil
}

// setSessionCookie writes the session cookie, living until the session's
// deadline: a refresh can extend the session up to it, and the browser must
// still send the cookie then. A session that ends sooner expires the cookie
// at its next request. At sign-in on a core's provider this is
// access_token_validity + 1 (spec §14.2).
func (a *application) setSessionCookie(w http.ResponseWriter, s *session.Session) error {
	ck, err := a.sessionCookies.Cookie(s.ID, time.Until(a.deadline(s)).Round(time.Second))
	if err != nil {
		return err
	}
	http.SetCookie(w, ck)
	return nil
}

// signOut ends every session of this person on this outpost (all providers,
// spec §13.1), then hands over to the provider's end-session endpoint.
func (a *application) signOut(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		// A page elsewhere (a planted image, a link, a form) cannot end
		// the person's sessions: they confirm here, from this site.
		a.log.Info("sign-out asked by another site: confirmation shown", "provider", a.provider.Name,
			"client_ip", clientIPString(originOf(r)), "request_id", requestID(r))
		writeFormPage(w, r, http.StatusOK, "Sign out?", "Another site asked to sign you out. Sign out only if you meant to.", a.ownURL(pathSignOut), "Sign out")
		return
	}
	s, err := a.cookieSession(w, r)
	if err != nil {
		a.errorPage(w, r, http.StatusServiceUnavailable, "Sign-out failed", "The session store is unavailable.", err)
		return
	}
	http.SetCookie(w, a.sessionCookies.Expire())
	a.expirePlainCookies(w, r)
	if s == nil {
		a.redirectToStart(w, r)
		return
	}
	n, err := a.endSessionsOf(r.Context(), s)
	if err != nil {
		a.errorPage(w, r, http.StatusServiceUnavailable, "Sign-out not finished", "The session store is unavailable. This server no longer accepts your session, and the outpost keeps trying to end it everywhere.", err)
		return
	}
	a.log.Info("signed out", "provider", a.provider.Name, "sub", s.Sub, "sessions_ended", n)
	eps, err := a.oidc.endpoints(r.Context())
	if err != nil || eps.endSession == "" {
		a.signedOut(w, r)
		return
	}
	u, err := url.Parse(eps.endSession)
	if err != nil {
		a.signedOut(w, r)
		return
	}
	q := u.Query()
	hint := s.IDToken
	if hint == "" {
		hint = s.AccessToken
	}
	q.Set("id_token_hint", hint)
	if a.provider.Issuer != "" {
		// RP-initiated logout: the issuer sends the browser back to the
		// outpost's page (registered at the issuer next to the redirect
		// URI). An authentik core ends the session in its own flow.
		q.Set("post_logout_redirect_uri", a.ownURL(pathSignedOut))
		q.Set("client_id", a.provider.ClientID)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// signedOut is the outpost's own signed-out page: no session is needed to
// see it, and its way forward is a new sign-in.
func (a *application) signedOut(w http.ResponseWriter, r *http.Request) {
	a.page(w, r, http.StatusOK, "Signed out", "You have been signed out.")
}

// crossSite reports a request another site made the browser send: Fetch
// Metadata says cross-site, or (from a browser without it) an Origin that
// is opaque or another host. Typed URLs, bookmarks, this site's own links
// and clients that are not browsers pass.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "same-site", "none":
		return false
	case "":
	default:
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err != nil || u.Host == "" || !strings.EqualFold(hostnameOf(u.Host), hostnameOf(originOf(r).Host))
}

// endSessionsOf ends the sessions a sign-out of s ends: every session of
// its subject that the same issuer vouched for. With a core that is every
// provider's (one user of the core); a standalone issuer's sub says nothing
// about another issuer's users, so only the providers at its issuer count.
// s itself is deleted by its id first: an index that lost it (evicted,
// damaged) must not leave the very session signing out alive.
func (a *application) endSessionsOf(ctx context.Context, s *session.Session) (int, error) {
	if err := a.store.Delete(ctx, s.ID); err != nil {
		return 0, err
	}
	if s.Sub == "" {
		return 1, nil
	}
	if a.issuerClients == nil {
		n, err := a.store.DeleteBySub(ctx, s.Sub)
		return 1 + n, err
	}
	total := 1
	var errs []error
	// On to every client even when one fails: each failed deletion is
	// remembered and retried by the store.
	for _, client := range a.issuerClients {
		n, err := a.store.DeleteBySubFor(ctx, client, s.Sub)
		errs = append(errs, err)
		total += n
	}
	return total, errors.Join(errs...)
}

// mergeUserinfo adds the userinfo claims the verified token lacks. The token
// wins where both have a claim, and userinfo for another subject is refused
// (OIDC Core §5.3.2: it could be a substituted response).
func mergeUserinfo(ctx context.Context, op *oidc.Provider, tok *oauth2.Token, claims map[string]any) error {
	ui, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	if ui.Subject != claims["sub"] {
		return errors.New("userinfo names another subject than the id_token")
	}
	var extra map[string]any
	if err := ui.Claims(&extra); err != nil {
		return fmt.Errorf("userinfo claims: %w", err)
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}
