package proxy

import (
	"net/url"

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

// skipTarget applies skip_path_regex (spec §11): to the path, or for
// forward_domain to the whole URL.
func (a *application) skipTarget(u *url.URL) bool {
	if a.provider.Mode == outpostapi.ModeForwardDomain {
		return a.matchesSkip(u.String()) && a.matchesSkip(withoutPathParamsURL(u))
	}
	return a.skipped(u.Path)
}
