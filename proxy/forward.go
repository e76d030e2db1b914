package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
)

// Forward-auth endpoints (spec §8): a reverse proxy in front of the app asks
// "may this request pass, and who is it?" and copies the answer's identity
// headers onto the request it forwards.
const (
	pathAuthNginx   = reservedPrefix + "/auth/nginx"
	pathAuthTraefik = reservedPrefix + "/auth/traefik"
	pathAuthCaddy   = reservedPrefix + "/auth/caddy"
	pathAuthEnvoy   = reservedPrefix + "/auth/envoy"
)

type forwardKind int

const (
	forwardNone forwardKind = iota
	forwardNginx
	forwardTraefik // Caddy uses the same headers
	forwardEnvoy
)

var errNoOriginalMethod = errors.New("the request carries no original method (nginx: X-Original-Method, Traefik/Caddy: X-Forwarded-Method), and the provider has rules per method")

// serveForward answers a forward-auth request for the application the
// original URL's host names, and says whose metrics it counts in. It
// reports false where no forward-mode application is concerned (a provider
// in proxy mode serves the endpoint's path as any other).
func (s *Server) serveForward(w http.ResponseWriter, r *http.Request, st *dataPlane, kind forwardKind) (*metrics.Host, bool) {
	info := infoOf(r)
	req, refusal := resolveForward(r, kind)
	if refusal != nil {
		// Without an original URL only the request's own host can name
		// whose configuration is wrong.
		app := st.router.route(info.origin.Host)
		if app == nil || app.provider.Mode == outpostapi.ModeProxy {
			// No forward-auth application here: the path is served as any
			// other (no app for the host, or proxy mode's own decision).
			return nil, false
		}
		info.provider = app.provider.Name
		app.refuseForward(w, r, kind, refusal)
		return app.metrics, true
	}
	info.original = &req
	app := st.router.route(req.url.Host)
	if app == nil {
		// A client's made-up Host, or a reverse proxy that names the host
		// with its own port (nginx behind a load balancer): the log says.
		s.log.Warn("forward auth request for a host no provider serves (behind a load balancer, the reverse proxy must send the public host and port)", "host", req.url.Host,
			"client_ip", clientIPString(info.origin), "request_id", info.id)
		if kind == forwardNginx {
			// nginx turns anything but 2xx, 401 and 403 into its own 500.
			w.WriteHeader(http.StatusForbidden)
		} else {
			s.unknownHost(w, r, st, req.url.Host)
		}
		return st.other, true
	}
	if app.provider.Mode == outpostapi.ModeProxy {
		return nil, false
	}
	info.provider = app.provider.Name
	if refusal := st.router.checkForwardHost(r, req.url, app); refusal != nil {
		app.refuseForward(w, r, kind, refusal)
		return app.metrics, true
	}
	// Nothing the client says about identity survives, on any path.
	stripIdentityHeaders(r.Header)
	app.stripAssertion(r.Header)
	app.forward(w, r, kind, req)
	return app.metrics, true
}

// forward answers a forward-auth request about req.
func (a *application) forward(w http.ResponseWriter, r *http.Request, kind forwardKind, req forwardRequest) {
	orig := req.url
	// The original path gets the same treatment as a proxied one: refused
	// when servers read it differently, else sent to its canonical form.
	if ambiguousURLPath(orig) {
		a.refuseForward(w, r, kind, clientFault("the original path is ambiguous (an encoded slash, backslash or #, or a NUL)", orig.EscapedPath()))
		return
	}
	if c := canonicalPath(orig.Path); c != orig.Path {
		a.redirectCanonical(w, r, kind, orig, c)
		return
	}
	// The sign-in callback and sign-out can ride inside the original URL, so
	// /outpost.goauthentik.io need not be routed publicly (Traefik, Caddy,
	// Envoy pass the answer on). nginx cannot pass a redirect on: it routes
	// those paths to the outpost itself.
	if kind != forwardNginx && a.servedMarker(w, r, orig.RawQuery) {
		return
	}
	// The plain callback path (a standalone provider's default redirect
	// URI) rides the same way.
	if kind != forwardNginx && a.isCallbackPath(orig.Path) {
		a.callback(w, r, orig.Query())
		return
	}
	rd, span := a.startSpan(r, spanDecide)
	id, err := a.authenticate(w, rd)
	if err != nil {
		endDecide(span, r, err)
		a.errorPage(w, r, http.StatusServiceUnavailable, "Service unavailable", "Sessions cannot be checked right now.", err)
		return
	}
	s := id.session
	if !req.known && a.provider.Policy.UsesMethods() {
		// Rules that depend on the method cannot be evaluated: refuse
		// rather than judge a POST as the reverse proxy's GET.
		endDecide(span, r, nil)
		a.refuseForward(w, r, kind, operatorFault(errNoOriginalMethod.Error()))
		return
	}
	v := a.decideOverrides(r, id, orig, a.decide(id, orig, req.method))
	d := a.logDecision(r, id, v)
	endDecide(span, r, nil)
	switch d {
	case allowIdentified:
		tok := ""
		if a.assertion.Enabled {
			// The app's origin: under a forward_domain provider, the host
			// the request was for, not the outpost's.
			var err error
			if tok, err = a.signAssertion(s, originOfURL(orig)); err != nil {
				a.assertionFailed(w, r, err)
				return
			}
		}
		a.setIdentity(w.Header(), s)
		// Present even when off: the reverse proxy then overwrites a
		// client's copy, and Caddy 2.6 sends no placeholder for it.
		w.Header()[a.assertion.Header] = []string{tok}
		w.WriteHeader(http.StatusOK)
	case allowAnonymous:
		// Every identity header, present and empty: the reverse proxy then
		// overwrites a client's copies, and some proxies copy a missing
		// one as a literal placeholder (Caddy 2.6 sends
		// "{http.reverse_proxy.header.X-Authentik-Username}" to the app).
		for _, name := range identityHeaderNames {
			w.Header()[name] = []string{""}
		}
		w.Header()[a.assertion.Header] = []string{""}
		w.WriteHeader(http.StatusOK)
	case refuseUnauthorized:
		a.unauthorized(refusalWriter(w, kind), r, id)
	case refuseForbidden:
		a.forbidden(refusalWriter(w, kind), r, s)
	case refuseLimited:
		a.tooManyFailures(refusalWriter(w, kind), r)
	case refuseStepUp:
		a.insufficientAuthentication(refusalWriter(w, kind), r, v.stepUp)
	default:
		// A sign-in, or a step-up (startStepUp; a sign-in for a step-up
		// path asks for it at once).
		back := validRedirect(a.provider, orig.String())
		var su *stepUpAsk
		start := a.startURL(back)
		if v.stepUp.Required() {
			su, start = askFor(v.stepUp), a.stepUpStartURL(back, v.stepUp)
		}
		if kind == forwardNginx {
			// nginx turns the 401 into its own redirect: to Location (the
			// shipped snippet), or to /start?rd=... (authentik's).
			w.Header().Set("Location", start)
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a.startLoginFor(w, r, back, false, su)
	}
}

// redirectCanonical sends the person to the original URL with its path
// made canonical, as proxy mode's 301 does. nginx cannot pass a redirect
// on, so it gets a 401 with the Location, which the shipped snippet follows
// (authentik's snippet signs in and lands on the canonical path).
func (a *application) redirectCanonical(w http.ResponseWriter, r *http.Request, kind forwardKind, orig *url.URL, canonical string) {
	c := *orig
	c.Path, c.RawPath = canonical, ""
	a.log.Info("forward auth: original path not canonical, redirected", "provider", a.provider.Name,
		"path", orig.EscapedPath(), "request_id", requestID(r))
	w.Header().Set("Location", c.String())
	if kind == forwardNginx {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusMovedPermanently)
}

// startURL is where a browser starts signing in to come back to back (""
// for the external host).
func (a *application) startURL(back string) string {
	start := a.ownURL(pathStart)
	if back == "" {
		return start
	}
	return start + "?rd=" + url.QueryEscape(back)
}

// ownURL is one of the outpost's own paths on the provider's external host.
func (a *application) ownURL(path string) string {
	ext := a.provider.ExternalURL
	return (&url.URL{Scheme: ext.Scheme, Host: ext.Host}).String() + joinPath(ext.Path, path)
}

// refusalWriter is where a refusal is written. nginx's auth_request reads
// only the status and headers of a 401 or 403 (the person sees nginx's own
// answer), and closes the keep-alive connection to the outpost after an
// answer whose body it did not read: every refusal would cost a new
// connection. Errors (5xx) keep their bodies, for whoever debugs with curl.
func refusalWriter(w http.ResponseWriter, kind forwardKind) http.ResponseWriter {
	if kind == forwardNginx {
		return headerOnly{w}
	}
	return w
}

// headerOnly answers with the status and headers only.
type headerOnly struct{ http.ResponseWriter }

func (h headerOnly) WriteHeader(code int) {
	h.Header().Del("Content-Length")
	h.ResponseWriter.WriteHeader(code)
}

func (h headerOnly) Write(p []byte) (int, error) { return len(p), nil }

// refuseForward answers a forward-auth request that cannot be decided. An
// operator's mistake is logged as an error and reported to the core (at
// most once a minute per provider and cause); a client's odd request is a
// warning and nothing more.
func (a *application) refuseForward(w http.ResponseWriter, r *http.Request, kind forwardKind, f *forwardRefusal) {
	o := originOf(r)
	if f.operator {
		a.log.Error("forward auth request the outpost cannot decide: check the reverse proxy's configuration",
			"provider", a.provider.Name, "reason", f.cause, "path", r.URL.Path, "remote", r.RemoteAddr, "request_id", requestID(r))
		if a.events != nil && a.eventLimit.allow(a.provider.Name+"\x00"+f.cause, time.Now()) {
			go a.events(context.WithoutCancel(r.Context()), a.configurationEvent(r, o, f.cause))
		}
	} else {
		a.log.Warn("forward auth request refused", "provider", a.provider.Name, "reason", f.cause,
			"detail", truncate(f.detail, 512), "client_ip", clientIPString(o), "request_id", requestID(r))
	}
	writeForwardRefusal(w, r, kind, f)
}

// writeForwardRefusal writes the refusal: 500 for the operator's mistakes, 400
// for the client's, or 403 to nginx, which turns anything but 2xx, 401 and
// 403 into its own 500.
// A browser (Traefik, Caddy and Envoy pass the body on) gets the page, a
// client asking for JSON the page's JSON.
func writeForwardRefusal(w http.ResponseWriter, r *http.Request, kind forwardKind, f *forwardRefusal) {
	if kind != forwardNginx && (strings.Contains(r.Header.Get("Accept"), "text/html") || wantsJSON(r)) {
		if f.operator {
			var links []pageLink
			if info := infoOf(r); info != nil && info.original != nil {
				links = append(links, pageLink{ID: "retry", Href: selfURL(r), Text: "Try again"})
			}
			writePage(w, r, http.StatusInternalServerError, "Configuration error",
				"The reverse proxy in front of this application does not send what the outpost needs to decide. The outpost's log says what is missing.", "", links...)
		} else {
			writePage(w, r, http.StatusBadRequest, "Bad request", "The request cannot be decided: "+f.cause+".", "")
		}
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case f.operator:
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("configuration error"))
	case kind == forwardNginx:
		w.Header().Del("Content-Type")
		w.WriteHeader(http.StatusForbidden)
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("bad request: " + f.cause + "\n"))
	}
}

// eventHeaders are the request headers a configuration_error event may
// carry: those that show what the reverse proxy sent. Cookies,
// credentials and anything unknown never leave the outpost.
// (Host, which net/http keeps in r.Host, is added too.)
var eventHeaders = []string{
	"User-Agent", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Uri", "X-Forwarded-Method",
	"X-Original-Url", "X-Original-Uri", "X-Original-Method",
}

// configurationEvent is the core's configuration_error event (spec §3.4)
// for cause. URLs lose their query, which may hold secrets.
func (a *application) configurationEvent(r *http.Request, o origin, cause string) outpostapi.Event {
	headers := map[string]any{}
	for _, name := range eventHeaders {
		if v := r.Header.Get(name); v != "" {
			if name != "User-Agent" {
				v, _, _ = strings.Cut(v, "?")
			}
			headers[name] = truncate(v, 512)
		}
	}
	if r.Host != "" {
		headers["Host"] = truncate(r.Host, 256)
	}
	return outpostapi.Event{
		Action: "configuration_error", App: "authentik.providers.proxy", ClientIP: clientIPString(o),
		Context: map[string]any{
			"message":  "forward auth request the outpost cannot decide: " + cause,
			"provider": a.provider.Name, "outpost": a.outpost, "url": r.URL.Path, "headers": headers,
		},
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
