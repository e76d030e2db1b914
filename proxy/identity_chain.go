package proxy

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/session"
	"go.opentelemetry.io/otel/trace"
)

// The authentication chain (spec §10): who a request is, found in one
// order by one loader per kind of credential, each giving an identity.
// The session cookie comes first, then the Authorization header: a Bearer
// token, or Basic credentials. What the request proved is then decided on
// (decide.go) the same way however it was proved.

// identity is who a request proved to be, and how.
type identity struct {
	// session is nil when the request proved nothing. From the
	// Authorization header it lives for this request only: nothing is
	// stored.
	session *session.Session
	// method is how: metrics.MethodSession, MethodBearer or MethodBasic
	// (for a credential that proved nothing, the scheme it tried).
	method string
	// presented: the request carried an Authorization header.
	presented bool
	// scheme is the scheme the client used, for the 401 challenge.
	scheme string
	// header is the Authorization header as sent, to check it again (a
	// websocket opened with it).
	header string
	// limited: the client IP has used its budget of refused credentials,
	// so the header was not checked.
	limited bool
	// apiClient: answer 401, not a login page.
	apiClient bool
}

// authenticate runs the chain: the first loader that proves someone
// wins. An error means the session store could not answer: the caller
// must refuse.
func (a *application) authenticate(w http.ResponseWriter, r *http.Request) (identity, error) {
	s, err := a.cookieSession(w, r)
	if err != nil {
		return identity{}, err
	}
	if s != nil {
		// apiClient matters to a session only for a step-up (stepup.go):
		// a background request gets the 401, a page load the sign-in.
		return identity{session: s, method: metrics.MethodSession, apiClient: !browserNavigation(r)}, nil
	}
	id := a.authorizationIdentity(r)
	id.apiClient = isAPIClient(r)
	if id.session == nil && id.presented && !a.provider.InterceptHeaderAuth {
		// The header belongs to the app (intercept_header_auth off): a
		// browser carrying one still gets the login page.
		id.apiClient = !browserNavigation(r)
	}
	return id, nil
}

// cookieSession is the first loader: the session the cookie names, or nil
// when there is none. A cookie that is present but unusable (forged, too
// old, its session gone) is expired in the response; a session whose
// token is about to expire is refreshed first (refresh.go). An error means
// the store could not answer: the caller must deny.
func (a *application) cookieSession(w http.ResponseWriter, r *http.Request) (*session.Session, error) {
	id, err := a.sessionCookies.SessionID(r)
	if errors.Is(err, session.ErrNoCookie) {
		return nil, nil
	}
	if err != nil {
		http.SetCookie(w, a.sessionCookies.Expire())
		return nil, nil
	}
	s, err := a.store.Get(r.Context(), id)
	if errors.Is(err, session.ErrNotFound) || (err == nil && s.Provider != a.provider.ClientID) {
		http.SetCookie(w, a.sessionCookies.Expire())
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if now := time.Now(); refreshDue(s, now) {
		if a.backoff.waiting(s.ID, now) {
			if now.Before(s.TokenExpiry) {
				return s, nil // a refresh failed a moment ago; the token still holds
			}
			// The session lives on (its refresh token was not refused), but
			// cannot be served until the identity provider answers again.
			return nil, errRefreshUnavailable
		}
		rr, span := a.startSpan(r, spanRefresh)
		fresh, err := a.refresh(w, rr, s)
		endRefresh(span, fresh, err)
		return fresh, err
	}
	return s, nil
}

// tokenUsername is the Basic-auth user name that means "the password is a
// token" (spec §10).
const tokenUsername = "goauthentik.io/token"

// errLimited is the outcome of a credential not checked because its client
// IP is over its budget of refused ones; it is never cached.
var errLimited = errors.New("too many refused credentials from this address")

// authorizationIdentity is what the Authorization header proves, by its
// scheme: the Bearer or the Basic loader. A header of another scheme, or
// one that does not parse, proves nothing but is still presented (the
// challenge names the schemes the outpost takes).
func (a *application) authorizationIdentity(r *http.Request) identity {
	header := r.Header.Get("Authorization")
	if header == "" {
		return identity{}
	}
	scheme, value, _ := strings.Cut(header, " ")
	value = strings.TrimSpace(value)
	id := identity{presented: true, scheme: scheme, header: header}
	switch {
	case strings.EqualFold(scheme, "Bearer") && value != "":
		return a.bearerIdentity(r, id, value)
	case strings.EqualFold(scheme, "Basic") && value != "":
		return a.basicIdentity(r, id, value)
	}
	return id
}

// bearerIdentity is the Bearer loader: a token the provider issued for
// this application (verifyBearer).
func (a *application) bearerIdentity(r *http.Request, id identity, token string) identity {
	id.scheme, id.method = "Bearer", metrics.MethodBearer
	return a.checkCredential(r, id, func(ctx context.Context) (*verifiedCredential, error) { return a.verifyBearer(ctx, token) })
}

// basicIdentity is the Basic loader: an app password through the
// client_credentials grant, or a token under the user name
// goauthentik.io/token.
func (a *application) basicIdentity(r *http.Request, id identity, value string) identity {
	id.scheme, id.method = "Basic", metrics.MethodBasic
	user, password, ok := decodeBasic(value)
	switch {
	case !ok:
		return id
	case user == tokenUsername:
		return a.checkCredential(r, id, func(ctx context.Context) (*verifiedCredential, error) { return a.verifyBearer(ctx, password) })
	}
	return a.checkCredential(r, id, func(ctx context.Context) (*verifiedCredential, error) {
		return a.verifyAppPassword(ctx, user, password)
	})
}

func decodeBasic(value string) (user, password string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(raw), ":")
	return user, password, ok && user != "" && password != ""
}

// checkCredential is id with the session verify proves, if it does.
// Outcomes are cached per exact header value (credentialcache.go); a
// client IP over its budget of refused credentials (ratelimit.go) gets only
// what is cached.
func (a *application) checkCredential(r *http.Request, id identity, verify func(context.Context) (*verifiedCredential, error)) identity {
	ip := originOf(r).ClientIP
	var v *verifiedCredential
	var err error
	if a.failures.exhausted(ip) {
		// Over budget: what is cached still answers, nothing new is tried.
		var known bool
		if v, err, known = a.credentials.cached(a.provider.ClientID, id.header); !known {
			err = errLimited
		}
	} else {
		v, err = a.credentials.lookup(a.provider.ClientID, id.header, func() (*verifiedCredential, error) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), backchannelTimeout)
			defer cancel()
			ctx, span := childSpan(a.tracer, ctx, spanCredential, trace.SpanKindInternal)
			cred, verr := verify(ctx)
			endCredential(span, verr)
			return cred, verr
		})
	}
	switch {
	case errors.Is(err, errLimited) && !a.provider.InterceptHeaderAuth:
		// The header may be the app's own API key: not checked, left to
		// the app, but no 429 for the app's clients.
		return id
	case errors.Is(err, errLimited):
		id.limited = true
		a.metrics.CredentialsLimited()
		a.log.Warn("credential not checked: too many refused from this address", "provider", a.provider.Name,
			"client_ip", clientIPString(originOf(r)), "request_id", requestID(r))
		return id
	case errors.Is(err, errRejected):
		a.failures.failed(ip)
	}
	if err != nil {
		level := "rejected"
		if !errors.Is(err, errRejected) {
			level = "could not be checked"
		}
		a.log.Warn("credential "+level, "provider", a.provider.Name, "scheme", id.scheme,
			"client_ip", clientIPString(originOf(r)), "request_id", requestID(r), "error", err)
		return id
	}
	id.session = &session.Session{
		Provider: a.provider.ClientID, Claims: v.claims, AccessToken: v.raw,
		Sub: claimString(v.claims, "sub"), SID: claimString(v.claims, "sid"),
		TokenExpiry: v.expiry, ExpiresAt: v.expiry,
	}
	return id
}

// isAPIClient: machines get a 401 they can act on, not a login page. A
// machine is anything that sends credentials or X-Requested-With, or is not
// a browser loading a page (promtool, curl and scripts accept no HTML).
func isAPIClient(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || !browserNavigation(r)
}

// browserNavigation: a browser loading a page. Browsers accept text/html
// for every navigation and say so in Sec-Fetch-Mode; their background
// requests send X-Requested-With (many frameworks) or ask for JSON.
func browserNavigation(r *http.Request) bool {
	if r.Header.Get("X-Requested-With") != "" || wantsJSON(r) {
		return false
	}
	return r.Header.Get("Sec-Fetch-Mode") == "navigate" ||
		strings.Contains(strings.ToLower(r.Header.Get("Accept")), "text/html")
}
