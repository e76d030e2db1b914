package proxy

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/outpost-dev/outpost/authz"
	"github.com/outpost-dev/outpost/outpostapi"
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
	// refuseForbidden: 403, signed in but the provider's rules refuse.
	refuseForbidden
	// refuseLimited: 429, the client IP sent too many bad credentials.
	refuseLimited
	// startStepUp: signed in, but the rule asks a fresher or stronger
	// sign-in (stepup.go): send the browser to sign in again.
	startStepUp
	// refuseStepUp: the same for a machine client: RFC 9470's 401.
	refuseStepUp
)

// verdict is a decision with, for a refusal by the rules or a step-up,
// which rule; for a step-up, what it asks.
type verdict struct {
	decision
	denial authz.Result
	stepUp authz.StepUp
}

// decide is the one decision function: id is who the request proved to be
// (a session, a token, or nobody), target the URL asked for (its path is
// the one that goes upstream) and method the original method. The
// provider's rules apply to every identity, however it was proved; a
// skipped path stays public for everyone.
func (a *application) decide(id identity, target *url.URL, method string) verdict {
	switch {
	case id.session != nil:
		res := a.evaluate(id.session.Claims, method, target.Path)
		if res.Allowed {
			su, stepUp := stepUpVerdict(id, res)
			switch {
			case !stepUp:
				return verdict{decision: allowIdentified}
			case a.skipTarget(target):
				return verdict{decision: allowAnonymous}
			}
			return su
		}
		switch {
		case a.skipTarget(target):
			return verdict{decision: allowAnonymous}
		}
		return verdict{decision: refuseForbidden, denial: res}
	case a.skipTarget(target):
		return verdict{decision: allowAnonymous}
	case id.limited:
		return verdict{decision: refuseLimited}
	case id.apiClient:
		return verdict{decision: refuseUnauthorized}
	}
	// A sign-in for a step-up path asks for the step-up at once.
	return verdict{decision: startSignIn, stepUp: a.provider.Policy.StepUpFor(method, target.Path)}
}

// methodOverrideHeaders are headers some frameworks read as the request's
// real method (Express's method-override, Symfony, ASP.NET, Google's
// APIs). On a provider with rules per method, proxy mode removes them
// before the app; forward auth, which cannot, judges each as a method too.
var methodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// decideOverrides is v, or the first refusal that a method named in a
// method-override header gets, on a provider with rules per method.
func (a *application) decideOverrides(r *http.Request, id identity, target *url.URL, v verdict) verdict {
	if !a.provider.Policy.UsesMethods() || !v.allows() {
		return v
	}
	for _, name := range methodOverrideHeaders {
		for _, m := range r.Header.Values(name) {
			if alt := a.decide(id, target, strings.TrimSpace(m)); !alt.allows() {
				return alt
			}
		}
	}
	return v
}

func (v verdict) allows() bool { return v.decision == allowIdentified || v.decision == allowAnonymous }

// evaluate applies the provider's rules to the path as written and, with
// ";" parameters in it, to the path a server that drops them acts on
// (/api/v1/admin;x/tsdb is /api/v1/admin/tsdb to Tomcat): both must allow,
// as for skip_path_regex.
func (a *application) evaluate(claims map[string]any, method, path string) authz.Result {
	res := a.provider.Policy.Evaluate(claims, method, path)
	if bare := withoutPathParams(path); res.Allowed && bare != path {
		other := a.provider.Policy.Evaluate(claims, method, bare)
		if !other.Allowed {
			return other
		}
		// Both step-ups apply: the sign-in must meet the two at once.
		su, ok := res.StepUp.Merge(other.StepUp)
		if !ok {
			return authz.Result{Rule: "acr_values", Reason: "the rules of " + path + " and " + bare + " accept no common acr"}
		}
		other.StepUp = su
		return other
	}
	return res
}

// The skip rules (skip_path_regex, spec §11) decide here and nowhere
// else: which requests pass without sign-in.

// skipTarget applies skip_path_regex (spec §11): to the path, or for
// forward_domain to the URL (scheme, host and path). The query never
// counts: /admin?x=/public/ is not under /public/, whatever the regexp.
func (a *application) skipTarget(u *url.URL) bool {
	if a.provider.Mode == outpostapi.ModeForwardDomain {
		c := *u
		c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
		return a.matchesSkip(c.String()) && a.matchesSkip(withoutPathParamsURL(&c))
	}
	return a.skipped(u.Path)
}

// skipped reports whether path may pass without sign-in. With ";"
// parameters in it, the rule must match both the path as written and the
// path a server that drops them acts on: /admin;.css is /admin to Tomcat.
func (a *application) skipped(path string) bool {
	if !a.matchesSkip(path) {
		return false
	}
	if bare := withoutPathParams(path); bare != path {
		return a.matchesSkip(bare)
	}
	return true
}

func (a *application) matchesSkip(path string) bool {
	for _, re := range a.provider.SkipPaths {
		if re.MatchString(path) {
			return true
		}
	}
	return false
}

// withoutPathParamsURL is u as skipTarget matches it for forward_domain,
// with the path a server that drops ";" parameters acts on.
func withoutPathParamsURL(u *url.URL) string {
	c := *u
	c.Path, c.RawPath = withoutPathParams(u.Path), ""
	return c.String()
}

// withoutPathParams is p with each segment's ";parameters" removed and the
// result made canonical: the path a Java server (Tomcat, Jetty) acts on.
func withoutPathParams(p string) string {
	if !strings.Contains(p, ";") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			segs[i] = s[:j]
		}
	}
	return canonicalPath(strings.Join(segs, "/"))
}
