package proxy

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/assertion"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
)

// application serves one provider's external host. It is built once per
// snapshot and read-only afterwards.
type application struct {
	provider *outpostapi.Provider
	outpost  string
	log      *slog.Logger
	store    session.Store
	// tracer is Options.Tracer (nil: tracing off); store is then traced.
	tracer   trace.Tracer
	oidc     *oidcClient
	upstream *upstreamProxy
	version  string

	sessionCookies *session.Codec
	loginCookies   *session.Codec
	refreshes      *singleflight.Group
	backoff        *refreshBackoff
	websockets     *connLimiter
	// lifetime is the longest a session lasts from sign-in (lifetime.go).
	lifetime time.Duration
	events   func(context.Context, outpostapi.Event)
	// metrics are labelled with the provider's configured host.
	metrics *metrics.Host
	// credentials caches Authorization outcomes (shared across snapshots).
	credentials *credentialCache
	// failures limits refused credentials per client IP (shared).
	failures *failureLimiter
	// logouts limits back-channel logout requests per client IP (shared).
	logouts *failureLimiter
	// eventLimit keeps configuration_error events to one a minute per cause.
	eventLimit *eventLimiter
	// additional are the additionalHeaders names of this provider.
	additional *additionalNames
	// upgrades are the protocols a client may upgrade to (proxy mode).
	upgrades []string
	// issuerClients are the client ids of the standalone providers at this
	// provider's issuer (itself included): whose sessions a sign-out of one
	// of its subjects ends. Nil for a core's provider, where a sub names one
	// user of the core across every provider.
	issuerClients []string
	// callbackPath is the path of a standalone redirect_uri, also the
	// callback ("" when it carries the marker query instead).
	callbackPath string
	// assertion are the provider's identity assertion settings, signer
	// the outpost's (nil when assertion.Enabled is off), issuerOrigin the
	// assertion's iss (assertion.go).
	assertion    assertion.Settings
	signer       *assertion.Signer
	issuerOrigin string
	// resourceIssuer is the issuer the protected resource metadata names,
	// "" when the provider serves none (resource_metadata.go).
	resourceIssuer string
}

// newApplication builds the application for p; a failure names the field.
func newApplication(p *outpostapi.Provider, snap *outpostapi.Snapshot, opts Options, sh *shared) (*application, *outpostapi.ProviderError) {
	fail := func(field string, err error) (*application, *outpostapi.ProviderError) {
		return nil, &outpostapi.ProviderError{Provider: p.Name, Field: field, Err: err.Error()}
	}
	lifetime := sessionLifetime(p)
	sc, err := sh.codecs.Get(cookieOptions(p, "", lifetime), session.NewCodec)
	if err != nil {
		return fail("cookie_secret", err)
	}
	lc, err := sh.codecs.Get(cookieOptions(p, sc.PlainName()+"_login", loginWindow), session.NewCodec)
	if err != nil {
		return fail("cookie_secret", err)
	}
	oc, err := newOIDCClient(p, oidcSettings{BrowserURL: opts.BrowserURL, AuthentikHost: snap.Outpost.AuthentikHost, Insecure: opts.Insecure, UserAgent: "goauthentik.io/outpost/" + opts.Version, KeyRefresh: sh.keyRefresh, Discoveries: sh.discoveries})
	if err != nil {
		return fail("oidc_configuration", err)
	}
	hm := opts.Metrics.Host(snap.Outpost.Name, p.ExternalURL.Host)
	sh.websockets.sessions.watch(opts.Store, opts.Log)
	upset := upstreamSettings{verifyTLS: p.InternalHostSSLValidation, headerTimeout: responseHeaderTimeout(p, opts)}
	a := &application{
		provider:       p,
		outpost:        snap.Outpost.Name,
		log:            opts.Log,
		store:          traceStore(opts.Store, opts.Tracer),
		tracer:         opts.Tracer,
		oidc:           oc,
		upstream:       newUpstreamProxy(opts.Log, sh.transports, upset, hm),
		version:        "goauthentik.io/outpost/" + opts.Version,
		sessionCookies: sc,
		loginCookies:   lc,
		refreshes:      sh.refreshes,
		backoff:        sh.backoff,
		websockets:     sh.websockets,
		lifetime:       lifetime,
		events:         opts.Events,
		metrics:        hm,
		credentials:    sh.credentials,
		failures:       sh.failures,
		logouts:        sh.logouts,
		eventLimit:     sh.events,
		additional:     sh.additional.forProvider(p.Name, opts.Log),
		issuerClients:  issuerClients(p, snap),
		callbackPath:   outpostapi.RedirectCallbackPath(p.RedirectURI),
		upgrades:       allowedUpgrades(p, opts),
		resourceIssuer: metadataIssuer(p, opts, oc),
	}
	a.assertion = assertionSettings(p.Assertion, opts)
	if a.assertion.Enabled {
		if sh.signer == nil {
			return fail("assertion", sh.signerErr)
		}
		a.signer, a.issuerOrigin = sh.signer, originOfURL(p.ExternalURL)
	}
	a.upstream.identity = a.setIdentity
	a.upstream.tracer = opts.Tracer
	a.upstream.preset(p.InternalURL, upset)
	return a, nil
}

// responseHeaderTimeout is the provider's own, else the outpost's, else
// the default.
func responseHeaderTimeout(p *outpostapi.Provider, opts Options) time.Duration {
	return cmp.Or(p.ResponseHeaderTimeout, opts.ResponseHeaderTimeout, outpostapi.DefaultResponseHeaderTimeout)
}

// allowedUpgrades is the provider's own list, else the outpost's, else
// websocket only.
func allowedUpgrades(p *outpostapi.Provider, opts Options) []string {
	switch {
	case p.AllowedUpgrades != nil:
		return p.AllowedUpgrades
	case opts.AllowedUpgrades != nil:
		return opts.AllowedUpgrades
	}
	return outpostapi.DefaultAllowedUpgrades
}

// issuerClients is application.issuerClients for p in snap.
func issuerClients(p *outpostapi.Provider, snap *outpostapi.Snapshot) []string {
	if p.Issuer == "" {
		return nil
	}
	var ids []string
	for i := range snap.Providers {
		if q := &snap.Providers[i]; strings.TrimSuffix(q.Issuer, "/") == strings.TrimSuffix(p.Issuer, "/") {
			ids = append(ids, q.ClientID)
		}
	}
	return ids
}

func (a *application) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Nothing the client says about identity survives, on any path.
	stripIdentityHeaders(r.Header)
	a.additional.strip(r.Header)
	a.stripAssertion(r.Header)
	if a.servedResourceMetadata(w, r) {
		return
	}
	if a.servedMarker(w, r, r.URL.RawQuery) || a.servedJWKS(w, r) {
		return
	}
	if a.callbackPath != "" && r.URL.Path == a.callbackPath {
		a.callback(w, r, r.URL.Query())
		return
	}
	switch r.URL.Path {
	case pathStart:
		su, err := stepUpFromQuery(r.URL.Query())
		if err != nil {
			writePage(w, r, http.StatusBadRequest, "Bad request", "This sign-in link is invalid: "+err.Error()+".", "")
			return
		}
		a.startLoginFor(w, r, validRedirect(a.provider, startRedirect(r.URL.RawQuery)), false, su)
		return
	case pathCallback:
		a.callback(w, r, r.URL.Query())
		return
	case pathSignOut:
		a.signOut(w, r)
		return
	case pathSignedOut:
		a.signedOut(w, r)
		return
	case pathBackchannelLogout:
		a.backchannelLogout(w, r)
		return
	}
	if a.provider.Mode != outpostapi.ModeProxy {
		// Forward modes serve only the auth endpoints (Server.serveForward);
		// the reverse proxy in front serves the app.
		http.NotFound(w, r)
		return
	}
	a.proxy(w, r)
}

// markerQuery is the parsed query when it can hold the X-authentik-*
// markers, else nil: most requests have a query that cannot (no marker
// name, nothing escaped), and parsing every query allocates.
func markerQuery(raw string) url.Values {
	if !strings.Contains(raw, "X-authentik-") && !strings.Contains(raw, "%") {
		return nil
	}
	q, _ := url.ParseQuery(raw)
	return q
}

// servedMarker answers a request whose query (rawQuery: the request's own,
// or in forward modes the original URL's) marks it as the sign-in callback
// or a sign-out, and reports whether it did.
func (a *application) servedMarker(w http.ResponseWriter, r *http.Request, rawQuery string) bool {
	q := markerQuery(rawQuery)
	switch {
	case strings.EqualFold(q.Get("X-authentik-auth-callback"), "true"):
		a.callback(w, r, q)
	case strings.EqualFold(q.Get("X-authentik-logout"), "true"):
		a.signOut(w, r)
	default:
		return false
	}
	return true
}

// proxy is proxy mode (spec §9): authenticate, then forward with identity.
func (a *application) proxy(w http.ResponseWriter, r *http.Request) {
	// Judged on every path, skipped ones included: an upgrade the provider
	// does not allow is removed, so the request goes on as a plain one.
	up, refused := upgradeRequest(r.Header, a.upgrades)
	if len(refused) > 0 {
		a.log.Info("upgrade not allowed: removed from the request", "provider", a.provider.Name, "protocols", refused,
			"client_ip", originOf(r).ClientIP, "path", r.URL.Path, "request_id", requestID(r))
	}
	// Skipped paths count too: the cap is per client, signed in or not.
	if up != "" {
		ip := originOf(r).ClientIP
		if !a.websockets.acquire(ip) {
			a.log.Warn("too many websockets from one client", "provider", a.provider.Name, "client_ip", ip, "protocol", up)
			writePage(w, r, http.StatusTooManyRequests, "Too many connections", "Too many websockets are open from your address. Close a tab of this application and try again.", "")
			return
		}
		// The upstream call returns when the connection closes.
		defer a.websockets.release(ip)
	}
	rd, span := a.startSpan(r, spanDecide)
	id, err := a.authenticate(w, rd)
	if err != nil {
		endDecide(span, r, err)
		a.errorPage(w, r, http.StatusServiceUnavailable, "Service unavailable", "Sessions cannot be checked right now. Try again in a moment.", err)
		return
	}
	s := id.session
	a.removeOwnCookies(r)
	if a.provider.Policy.UsesMethods() {
		// The app acts on the method the rules judged, and no other.
		for _, name := range methodOverrideHeaders {
			r.Header.Del(name)
		}
	}
	v := a.decide(id, r.URL, r.Method)
	d := a.logDecision(r, id, v)
	endDecide(span, r, nil)
	// The client's credentials were for the outpost, not the app, unless
	// the provider leaves the header to the app (intercept_header_auth off).
	if a.provider.InterceptHeaderAuth {
		r.Header.Del("Authorization")
	}
	switch d {
	case allowIdentified:
		t := a.target(s)
		if a.assertion.Enabled {
			tok, err := a.signAssertion(s, a.issuerOrigin)
			if err != nil {
				a.assertionFailed(w, r, err)
				return
			}
			t.AssertionHeader, t.Assertion = a.assertion.Header, tok
		}
		if up != "" {
			if id.method != metrics.MethodSession {
				// Opened with a token or an app password: no stored
				// session to follow, so the credential itself is.
				r = a.trackCredentialWebsocket(r, id.header, s)
			} else {
				var ok bool
				if r, ok = a.trackWebsocket(w, r, s); !ok {
					return
				}
			}
		}
		t.Identity, t.Upgrade = s, up
		a.upstream.serve(w, r, t)
	case allowAnonymous:
		a.upstream.serve(w, r, upstreamTarget{URL: a.provider.InternalURL, Upgrade: up})
	case refuseUnauthorized:
		a.unauthorized(w, r, id)
	case refuseForbidden:
		a.forbidden(w, r, s)
	case refuseLimited:
		a.tooManyFailures(w, r)
	case startStepUp:
		a.redirectToStepUp(w, r, v.stepUp)
	case refuseStepUp:
		a.insufficientAuthentication(w, r, v.stepUp)
	default:
		if v.stepUp.Required() {
			a.redirectToStepUp(w, r, v.stepUp)
			return
		}
		a.redirectToStart(w, r)
	}
}

// setIdentity writes s's identity headers into h: the upstream request in
// proxy mode, the answer to the reverse proxy in forward modes.
func (a *application) setIdentity(h http.Header, s *session.Session) {
	setIdentityHeaders(h, s.Claims, identityInfo{
		RawToken: s.AccessToken, JWKS: a.jwks(), Outpost: a.outpost, Provider: a.provider.Name,
		App: a.provider.AssignedApplicationSlug, Version: a.version, Standalone: a.provider.Issuer != "",
		BasicAuthEnabled: a.provider.BasicAuthEnabled, BasicAuthUserAttribute: a.provider.BasicAuthUserAttribute,
		BasicAuthPasswordAttribute: a.provider.BasicAuthPasswordAttribute, Additional: a.additional,
	})
}

// target is internal_host, or the session's ak_proxy.backend_override, with
// ak_proxy.host_header (spec §9.2).
func (a *application) target(s *session.Session) upstreamTarget {
	t := upstreamTarget{URL: a.provider.InternalURL}
	ak, _ := s.Claims["ak_proxy"].(map[string]any)
	if ak == nil || a.provider.Issuer != "" {
		// Only an authentik core's provider may redirect the request: from
		// a standalone issuer ak_proxy is a claim like any other.
		return t
	}
	t.Superuser, _ = ak["is_superuser"].(bool)
	if o, _ := ak["backend_override"].(string); o != "" {
		if u, err := url.Parse(o); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			t.URL, t.Override = &url.URL{Scheme: u.Scheme, Host: u.Host}, true
		} else {
			a.log.Warn("ignoring invalid backend_override", "provider", a.provider.Name, "value", o)
		}
	}
	t.HostHeader, _ = ak["host_header"].(string)
	return t
}

// jwks is X-Authentik-Meta-Jwks: the core's jwks_uri, or for a standalone
// issuer the one its discovery named ("" until discovery has succeeded;
// never waited for on a request).
func (a *application) jwks() string {
	if a.provider.Issuer == "" {
		return a.provider.OIDCConfiguration.JWKSURI
	}
	return a.oidc.discoveredJWKS()
}

// redirectToStart sends a browser to sign in, remembering the exact URL it
// asked for, query included.
func (a *application) redirectToStart(w http.ResponseWriter, r *http.Request) {
	ext := a.provider.ExternalURL
	back := (&url.URL{Scheme: ext.Scheme, Host: ext.Host}).String() + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		back += "?" + r.URL.RawQuery
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, a.startURL(back), http.StatusFound)
}

// unauthorized is the 401 a machine client can act on: a challenge for the
// scheme it used (RFC 6750 error="invalid_token" for a refused token) and
// a JSON body. Without credentials only Bearer is offered: a Basic
// challenge would make browsers pop up a password dialog for a page's
// background requests. Every Bearer challenge names the protected
// resource metadata (RFC 9728 §5.1) where the provider serves it.
func (a *application) unauthorized(w http.ResponseWriter, r *http.Request, id identity) {
	realm := `realm="` + a.provider.ExternalURL.Host + `"`
	body := `{"error":"unauthorized","message":"sign in or send credentials"}`
	switch {
	case id.presented && id.scheme == "Bearer":
		w.Header().Set("WWW-Authenticate", a.bearerChallenge(r, `, error="invalid_token", error_description="the token is invalid, expired, revoked or not for this application"`))
		body = `{"error":"invalid_token","message":"the token is invalid, expired, revoked or not for this application"}`
	case id.presented && id.scheme == "Basic":
		w.Header()["WWW-Authenticate"] = a.withMetadataChallenge(r, `Basic `+realm+`, charset="UTF-8"`)
		body = `{"error":"invalid_credentials","message":"the user name or app password is wrong"}`
	case id.presented:
		w.Header()["WWW-Authenticate"] = []string{a.bearerChallenge(r, ""), `Basic ` + realm + `, charset="UTF-8"`}
		body = `{"error":"invalid_request","message":"unsupported authorization scheme: use Bearer or Basic"}`
	default:
		w.Header().Set("WWW-Authenticate", a.bearerChallenge(r, ""))
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") && !wantsJSON(r) {
		// A person behind the client (a browser sending a stale token): the
		// challenge stays, the body is the page with a way to sign in.
		var m struct{ Message string }
		_ = json.Unmarshal([]byte(body), &m)
		renderPage(w, r, page{Status: http.StatusUnauthorized, Title: "Sign-in required", Message: strings.ToUpper(m.Message[:1]) + m.Message[1:] + ".",
			Links: []pageLink{{ID: "sign-in", Href: a.startURL(""), Text: "Sign in"}}})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(body + "\n"))
}

// removeOwnCookies drops the outpost's cookies from what goes upstream, so
// the app never holds a replayable session; the app's own cookies pass
// byte for byte. Names are compared trimmed, as Go's cookie parser (which
// found the session) trims them.
func (a *application) removeOwnCookies(r *http.Request) {
	lines := r.Header["Cookie"]
	if len(lines) == 0 {
		return
	}
	// Two passes over the same cookies: the first measures what is kept,
	// so that the second writes it in one allocation of its size (a
	// browser's Cookie line is mostly the outpost's own cookie).
	size := 0
	a.keptCookies(lines, func(part string) {
		if size > 0 {
			size += len("; ")
		}
		size += len(part)
	})
	if size == 0 {
		delete(r.Header, "Cookie")
		return
	}
	var kept strings.Builder
	kept.Grow(size)
	a.keptCookies(lines, func(part string) {
		if kept.Len() > 0 {
			kept.WriteString("; ")
		}
		kept.WriteString(part)
	})
	// The request's own slice of values, reused: one line.
	lines[0] = kept.String()
	r.Header["Cookie"] = lines[:1:1]
}

// keptCookies calls keep with each cookie of lines that is not the
// outpost's, in order, trimmed as net/http trims them (the name more
// widely, to be sure).
func (a *application) keptCookies(lines []string, keep func(part string)) {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = textproto.TrimString(part)
			name, _, _ := strings.Cut(part, "=")
			name = strings.TrimSpace(name)
			if part == "" || a.ownCookie(name) {
				continue
			}
			keep(part)
		}
	}
}

// ownCookie reports whether name is one of the outpost's cookies, with or
// without the __Host- prefix: a plain one is never read on a provider with
// the prefix, but it is still an outpost value the app must not hold.
func (a *application) ownCookie(name string) bool {
	return name == a.sessionCookies.Name() || name == a.loginCookies.Name() ||
		name == a.sessionCookies.PlainName() || name == a.loginCookies.PlainName()
}

// forbidden is the 403 of a refusal by the provider's rules: it says who
// is signed in and offers another account, but nothing about which rule
// (that is in the log).
func (a *application) forbidden(w http.ResponseWriter, r *http.Request, s *session.Session) {
	renderPage(w, r, page{Status: http.StatusForbidden, Title: "Access denied",
		Message: "You are signed in, but your account may not use this page. Ask the application's owner for access, or sign in with another account.",
		User:    userName(s.Claims),
		Links: []pageLink{
			{ID: "switch-account", Href: a.ownURL(pathSignOut), Text: "Sign out to switch account"},
			{ID: "back", Href: a.provider.ExternalURL.String(), Text: "Back to " + a.provider.ExternalURL.Host},
		}})
}

// tooManyFailures is the 429 of a client IP over its budget of refused
// credentials.
func (a *application) tooManyFailures(w http.ResponseWriter, r *http.Request) {
	wait := a.failures.retryAfter(originOf(r).ClientIP)
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	renderPage(w, r, page{Status: http.StatusTooManyRequests, Title: "Too many attempts",
		Message: "Too many wrong credentials came from your address. Wait a minute and try again.",
		Links:   a.backLinks(r, http.StatusTooManyRequests)})
}
