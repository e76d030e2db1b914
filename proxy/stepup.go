package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/outpost-dev/outpost/authz"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/session"
	"golang.org/x/oauth2"
)

// Step-up (docs/step-up.md): a rule's max_auth_age or acr_values that the
// session's sign-in does not meet sends a browser through a fresh sign-in
// asking for exactly that, back to the same URL; a machine client gets
// RFC 9470's 401 instead. What the sign-in was (auth_time, acr) is read
// only from the session's verified claims, kept server-side: no cookie or
// header a client sends can say it.

// stepUpVerdict is the verdict for a session whose rules allowed it
// (res), when res asks more of its sign-in than the session has; ok is
// false when it asks nothing or the sign-in meets it. Most rules ask
// nothing: the clock is read only for those that do.
func stepUpVerdict(id identity, res authz.Result) (v verdict, ok bool) {
	if !res.StepUp.Required() {
		return verdict{}, false
	}
	at, acr := authz.SignInOf(id.session.Claims)
	rule, reason := res.StepUp.Unmet(at, acr, time.Now())
	if rule == "" {
		return verdict{}, false
	}
	if res.StepUp.Scope != "" {
		rule = res.StepUp.Scope + "." + rule
	}
	v = verdict{decision: startStepUp, stepUp: res.StepUp, denial: authz.Result{Rule: rule, Reason: reason}}
	if id.apiClient || id.method != metrics.MethodSession {
		// A token or an app password cannot be signed in again by the
		// outpost, and a background request cannot follow a login page.
		v.decision = refuseStepUp
	}
	return v, true
}

// logStepUp notes a step-up the rules asked for.
func (a *application) logStepUp(r *http.Request, s *session.Session, v verdict) {
	a.metrics.StepUp(metrics.StepUpRequired)
	method, path := requested(r)
	a.log.Info("step-up required: the session's sign-in does not meet the rule", "provider", a.provider.Name,
		"user", userName(s.Claims), "rule", v.denial.Rule, "reason", v.denial.Reason, "method", method, "path", path,
		"client_ip", clientIPString(originOf(r)), "request_id", requestID(r))
}

// stepUpAsk is what a step-up sign-in asks of the identity provider. It
// rides in the /start URL and then in the signed login state, so that the
// callback can tell whether the answer meets it.
type stepUpAsk struct {
	// MaxAge is OIDC's max_age, seconds (0: not asked).
	MaxAge int64 `json:"max_age,omitempty"`
	// ACR is acr_values (nil: not asked).
	ACR []string `json:"acr,omitempty"`
}

func askFor(s authz.StepUp) *stepUpAsk {
	return &stepUpAsk{MaxAge: int64(s.MaxAge / time.Second), ACR: s.ACR}
}

func (s *stepUpAsk) rule() authz.StepUp {
	return authz.StepUp{MaxAge: time.Duration(s.MaxAge) * time.Second, ACR: s.ACR}
}

// Limits of a step-up asked in a /start URL: anything past them is not
// what the outpost sends.
const (
	maxStepUpACRs   = 16
	maxStepUpACRLen = 256
)

// stepUpFromQuery reads the step-up a /start URL asks for (nil when none):
// max_age and acr_values, as stepUpStartURL writes them. Anyone can write
// such a URL, so it can only make a sign-in stricter: the rules decide
// again on the way back.
func stepUpFromQuery(q url.Values) (*stepUpAsk, error) {
	if !q.Has("max_age") && !q.Has("acr_values") {
		return nil, nil
	}
	s := &stepUpAsk{}
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > 1<<31 {
			return nil, fmt.Errorf("max_age %q is not a positive number of seconds", v)
		}
		s.MaxAge = n
	}
	s.ACR = strings.Fields(q.Get("acr_values"))
	if len(s.ACR) > maxStepUpACRs || len(q.Get("acr_values")) > maxStepUpACRLen {
		return nil, errors.New("acr_values is too long")
	}
	if s.MaxAge == 0 && len(s.ACR) == 0 {
		return nil, errors.New("max_age and acr_values are empty")
	}
	return s, nil
}

// stepUpStartURL is /start for a step-up back to back. The step-up comes
// before rd: a raw rd takes the rest of the query (startRedirect).
func (a *application) stepUpStartURL(back string, s authz.StepUp) string {
	q := url.Values{}
	if s.MaxAge > 0 {
		q.Set("max_age", strconv.FormatInt(int64(s.MaxAge/time.Second), 10))
	}
	if len(s.ACR) > 0 {
		q.Set("acr_values", strings.Join(s.ACR, " "))
	}
	u := a.ownURL(pathStart) + "?" + q.Encode()
	if back != "" {
		u += "&rd=" + url.QueryEscape(back)
	}
	return u
}

// redirectToStepUp sends a browser in proxy mode to sign in again, back to
// the exact URL it asked for.
func (a *application) redirectToStepUp(w http.ResponseWriter, r *http.Request, s authz.StepUp) {
	ext := a.provider.ExternalURL
	back := (&url.URL{Scheme: ext.Scheme, Host: ext.Host}).String() + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		back += "?" + r.URL.RawQuery
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, a.stepUpStartURL(back, s), http.StatusFound)
}

// stepUpAuthParams are the authorization request's parameters for a
// step-up: prompt=login always (the person proves they are there now,
// whatever the identity provider's own session says), max_age and
// acr_values as the rule asks.
func stepUpAuthParams(s *stepUpAsk) []oauth2.AuthCodeOption {
	opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login")}
	if s.MaxAge > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.FormatInt(s.MaxAge, 10)))
	}
	if len(s.ACR) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", strings.Join(s.ACR, " ")))
	}
	return opts
}

// insufficientAuthentication is RFC 9470's 401: the credential is fine,
// the sign-in behind it is not enough for this resource. The challenge
// says what would be (max_age, acr_values) and names the resource
// metadata like every other Bearer challenge.
func (a *application) insufficientAuthentication(w http.ResponseWriter, r *http.Request, s authz.StepUp) {
	const desc = "a more recent or stronger sign-in is required"
	params := `, error="insufficient_user_authentication", error_description="` + desc + `"`
	if s.MaxAge > 0 {
		params += ", max_age=" + strconv.FormatInt(int64(s.MaxAge/time.Second), 10)
	}
	if len(s.ACR) > 0 {
		// compileStepUp allows no quote, backslash or space in a value.
		params += `, acr_values="` + strings.Join(s.ACR, " ") + `"`
	}
	w.Header().Set("WWW-Authenticate", a.bearerChallenge(r, params))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"error":"insufficient_user_authentication","message":"` + desc + `"}` + "\n"))
}

// signInFromTokens keeps in claims only the auth_time and acr a verified
// token carries: the primary token's, else the ID token's (a core's access
// token may lack them). Whatever userinfo added is dropped: it is not
// signed, and says nothing of the sign-in.
func signInFromTokens(claims map[string]any, primary, idTok *oidc.IDToken, fromToken map[string]bool) {
	var idClaims map[string]any
	if idTok != nil && idTok != primary {
		_ = idTok.Claims(&idClaims)
	}
	for _, k := range []string{"auth_time", "acr"} {
		if fromToken[k] {
			continue
		}
		delete(claims, k)
		if v, ok := idClaims[k]; ok {
			claims[k] = v
		}
	}
}

// keepSignIn carries the session's auth_time and acr over a refresh whose
// token does not say them: a refresh is not a sign-in, and many identity
// providers leave them out of refreshed tokens.
func keepSignIn(fresh, old map[string]any) {
	for _, k := range []string{"auth_time", "acr"} {
		if _, ok := fresh[k]; !ok {
			if v, ok := old[k]; ok {
				fresh[k] = v
			}
		}
	}
}

// finishStepUp completes the callback of a step-up sign-in (st.StepUp
// set) and reports whether it answered. A sign-in that still does not
// meet the step-up is refused with a 403: sending the browser back would
// only loop. One that does updates the browser's session in place when it
// is the same subject's (docs/step-up.md, "Same session"); otherwise
// (no session, another subject, a session ended meanwhile) it answers
// nothing and the callback starts a new session as for any sign-in.
func (a *application) finishStepUp(w http.ResponseWriter, r *http.Request, st *loginState, v *verifiedTokens, tok *oauth2.Token) bool {
	at, acr := authz.SignInOf(v.claims)
	if rule, reason := st.StepUp.rule().Unmet(at, acr, time.Now()); rule != "" {
		a.metrics.StepUp(metrics.StepUpRefused)
		a.log.Warn("step-up refused: the identity provider's new sign-in still does not meet the rule", "provider", a.provider.Name,
			"user", userName(v.claims), "rule", rule, "reason", reason, "request_id", requestID(r))
		renderPage(w, r, page{Status: http.StatusForbidden, Title: "A fresh sign-in is required",
			Message: "This page needs a recent sign-in at a level the identity provider did not confirm. Try again, or ask the application's owner.",
			User:    userName(v.claims),
			Links:   []pageLink{{ID: "back", Href: a.provider.ExternalURL.String(), Text: "Back to " + a.provider.ExternalURL.Host}}})
		return true
	}
	a.metrics.StepUp(metrics.StepUpSatisfied)
	id, err := a.sessionCookies.SessionID(r)
	if err != nil {
		return false
	}
	cur, err := a.store.Get(session.WithoutCache(r.Context()), id)
	switch {
	case errors.Is(err, session.ErrNotFound):
		return false
	case err != nil:
		a.metrics.LoginFailed("session_store")
		a.errorPage(w, r, http.StatusServiceUnavailable, "Sign-in failed", "The session could not be read.", err)
		return true
	}
	sub := claimString(v.claims, "sub")
	if cur.Provider != a.provider.ClientID || sub == "" || cur.Sub != sub {
		// Another person signed in: they get a session of their own and
		// never this one, which stays as it was.
		a.log.Info("step-up sign-in by another subject: a new session", "provider", a.provider.Name,
			"sub", sub, "request_id", requestID(r))
		return false
	}
	upd := cur.Clone()
	v.applyTo(upd)
	if tok.RefreshToken != "" {
		upd.RefreshToken = tok.RefreshToken
	}
	// The session's deadline stays: a step-up makes the sign-in fresher,
	// not the session longer.
	upd.ExpiresAt = a.sessionEnd(upd, tok, time.Now())
	saved, err := a.store.SaveIfExists(r.Context(), upd)
	switch {
	case err != nil:
		a.metrics.LoginFailed("session_store")
		a.errorPage(w, r, http.StatusServiceUnavailable, "Sign-in failed", "The session could not be stored.", err)
		return true
	case !saved:
		return false // ended meanwhile (a sign-out): a new session
	}
	a.backoff.forget(upd.ID)
	if err := a.setSessionCookie(w, upd); err != nil {
		a.metrics.LoginFailed("session_cookie")
		a.errorPage(w, r, http.StatusInternalServerError, "Sign-in failed", "The session cookie could not be written.", err)
		return true
	}
	a.expirePlainCookies(w, r)
	a.metrics.LoginSucceeded()
	a.log.Info("stepped up: the session's sign-in is fresh", "provider", a.provider.Name, "user", userName(upd.Claims), "sub", upd.Sub)
	a.landAfterSignIn(w, r, st.Redirect)
	return true
}
