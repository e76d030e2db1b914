package proxy

import (
	"net/http"
	"net/url"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
)

// decision is what happens to a request once it is authenticated (or not).
// Proxy mode and every forward-auth endpoint act on the same decision, so
// they can never disagree about who may pass.
type decision int

const (
	// allowIdentified: pass, with the session's identity.
	allowIdentified decision = iota
	// allowAnonymous: pass without identity (a skipped path).
	allowAnonymous
	// refuseUnauthorized: 401, for clients that cannot follow a login page.
	refuseUnauthorized
	// startSignIn: send the browser to sign in.
	startSignIn
)

// decide is the one decision function: s is the request's session (nil when
// signed out), target the URL the person asked for, apiClient whether the
// request comes from a machine (Authorization, Accept: application/json,
// X-Requested-With).
func (a *application) decide(s *session.Session, target *url.URL, apiClient bool) decision {
	switch {
	case s != nil:
		return allowIdentified
	case a.skipTarget(target):
		return allowAnonymous
	case apiClient:
		return refuseUnauthorized
	}
	return startSignIn
}

// identity is who a request proved to be, and how.
type identity struct {
	// session is nil when the request proved nothing. From a header it
	// lives for this request only.
	session *session.Session
	// method is how: metrics.MethodSession, MethodBearer or MethodBasic.
	method string
	// cred is what the Authorization header said, for the 401 challenge.
	cred credential
	// apiClient: answer 401, not a login page.
	apiClient bool
}

// authenticate finds the request's identity in the order of spec §10: the
// session cookie, then the Authorization header. An error means the
// session store could not answer: the caller must refuse.
func (a *application) authenticate(w http.ResponseWriter, r *http.Request) (identity, error) {
	s, err := a.currentSession(w, r)
	if err != nil {
		return identity{}, err
	}
	id := identity{session: s, apiClient: isAPIClient(r)}
	if s != nil {
		id.method = metrics.MethodSession
		return id, nil
	}
	id.cred = a.authenticateHeader(r)
	if id.cred.session != nil {
		id.session, id.method = id.cred.session, id.cred.method
		return id, nil
	}
	if id.cred.presented && !a.provider.InterceptHeaderAuth {
		// The header belongs to the app (intercept_header_auth off): a
		// browser carrying one still gets the login page.
		id.apiClient = !browserNavigation(r)
	}
	return id, nil
}

// record notes the decision in the request's access line and in the
// decision metric, and returns it.
func (a *application) record(r *http.Request, id identity, d decision) decision {
	s := id.session
	result, method := metrics.ResultAllowed, metrics.MethodNone
	switch d {
	case allowIdentified:
		method = id.method
	case allowAnonymous:
		method = metrics.MethodSkipped
	case refuseUnauthorized:
		result = metrics.ResultUnauthorized
	case startSignIn:
		result = metrics.ResultLoginRedirect
	}
	a.metrics.Decision(result, method)
	if info := infoOf(r); info != nil {
		info.result, info.method = result, method
		if s != nil {
			info.user = userName(s.Claims)
		}
	}
	return d
}

// userName is how logs name a person: preferred_username, else sub.
func userName(claims map[string]any) string {
	if u, _ := claims["preferred_username"].(string); u != "" {
		return u
	}
	s, _ := claims["sub"].(string)
	return s
}

// skipTarget applies skip_path_regex (spec §11): to the path, or for
// forward_domain to the whole URL.
func (a *application) skipTarget(u *url.URL) bool {
	if a.provider.Mode == outpostapi.ModeForwardDomain {
		return a.matchesSkip(u.String()) && a.matchesSkip(withoutPathParamsURL(u))
	}
	return a.skipped(u.Path)
}
