package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

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

func forwardKindOf(path string) forwardKind {
	switch {
	case path == pathAuthNginx:
		return forwardNginx
	case path == pathAuthTraefik, path == pathAuthCaddy:
		return forwardTraefik
	case path == pathAuthEnvoy || strings.HasPrefix(path, pathAuthEnvoy+"/"):
		return forwardEnvoy
	}
	return forwardNone
}

var errNoOriginalURL = errors.New("the request carries no usable original URL")

// originalURL is the URL the person asked the reverse proxy for. The
// headers it comes from count only from trusted proxies: from anyone else
// the trust layer removed them, and the request fails closed here.
func originalURL(r *http.Request, kind forwardKind) (*url.URL, error) {
	o := originOf(r)
	var u *url.URL
	var err error
	switch kind {
	case forwardTraefik:
		proto, host := r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host")
		if proto == "" || host == "" {
			return nil, errNoOriginalURL
		}
		u, err = url.Parse(proto + "://" + host + r.Header.Get("X-Forwarded-Uri"))
	case forwardNginx:
		if uri := r.Header.Get("X-Original-Uri"); uri != "" {
			if !strings.HasPrefix(uri, "/") {
				return nil, errNoOriginalURL
			}
			u, err = url.Parse(o.Scheme + "://" + o.Host + uri)
		} else if raw := r.Header.Get("X-Original-Url"); raw != "" {
			u, err = url.Parse(raw)
		} else {
			return nil, errNoOriginalURL
		}
	case forwardEnvoy:
		// The original path follows the endpoint's prefix; the host is the
		// request's own.
		rest := strings.TrimPrefix(r.URL.EscapedPath(), pathAuthEnvoy)
		if rest == "" {
			rest = "/"
		}
		if r.URL.RawQuery != "" {
			rest += "?" + r.URL.RawQuery
		}
		u, err = url.Parse(o.Scheme + "://" + o.Host + rest)
	}
	if err != nil {
		return nil, err
	}
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, errNoOriginalURL
	}
	// The original path gets the same treatment as a proxied one.
	if canonicalPath(u.Path) != u.Path || strings.ContainsAny(u.Path, "\\\x00") {
		return nil, errors.New("the original URL's path is not canonical")
	}
	return u, nil
}

// forward answers a forward-auth request.
func (a *application) forward(w http.ResponseWriter, r *http.Request, kind forwardKind) {
	orig, err := originalURL(r, kind)
	if err != nil {
		a.configurationError(w, r, err)
		return
	}
	// The sign-in callback and sign-out can ride inside the original URL, so
	// /outpost.goauthentik.io need not be routed publicly (traefik, caddy).
	if a.servedMarker(w, r, orig.RawQuery) {
		return
	}
	// nginx sends its own sign-in locations through auth_request too.
	if kind == forwardNginx && underReservedPrefix(orig.Path) && orig.Path != r.URL.Path {
		w.WriteHeader(http.StatusOK)
		return
	}
	id, err := a.authenticate(w, r)
	if err != nil {
		a.errorPage(w, r, http.StatusServiceUnavailable, "Service unavailable", "Sessions cannot be checked right now.", err)
		return
	}
	s := id.session
	method, known := originalMethod(r, kind)
	if !known && a.provider.Policy.UsesMethods() {
		// Rules that depend on the method cannot be evaluated: refuse
		// rather than judge a POST as the reverse proxy's GET.
		a.configurationError(w, r, errNoOriginalMethod)
		return
	}
	switch a.record(r, id, a.decide(id, orig, method)) {
	case allowIdentified:
		a.setIdentity(w.Header(), s)
		w.WriteHeader(http.StatusOK)
	case allowAnonymous:
		// Every identity header, present and empty: some proxies copy a
		// missing one as a literal placeholder (Caddy 2.6 sends
		// "{http.reverse_proxy.header.X-Authentik-Username}" to the app).
		for _, name := range identityHeaderNames {
			w.Header()[name] = []string{""}
		}
		w.WriteHeader(http.StatusOK)
	case refuseUnauthorized:
		a.unauthorized(refusalWriter(w, kind), r, id.cred)
	case refuseForbidden:
		a.forbidden(refusalWriter(w, kind), r)
	case refuseLimited:
		a.tooManyFailures(refusalWriter(w, kind), r)
	default:
		if kind == forwardNginx {
			// nginx turns this into its own redirect to /start?rd=...
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a.startLogin(w, r, validRedirect(a.provider, orig.String()), false)
	}
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

var errNoOriginalMethod = errors.New("the request carries no original method (nginx: X-Original-Method, Traefik/Caddy: X-Forwarded-Method), and the provider has rules per method")

// originalMethod is the method of the request the reverse proxy asks
// about, and whether it is known. Traefik and Caddy send it in
// X-Forwarded-Method; nginx's auth_request always asks with GET, so its
// snippet sends X-Original-Method (both kept only from trusted proxies);
// Envoy asks with the original method.
func originalMethod(r *http.Request, kind forwardKind) (string, bool) {
	switch kind {
	case forwardTraefik:
		m := r.Header.Get("X-Forwarded-Method")
		return m, m != ""
	case forwardNginx:
		m := r.Header.Get("X-Original-Method")
		return m, m != ""
	}
	return r.Method, true
}

func withoutPathParamsURL(u *url.URL) string {
	c := *u
	c.Path, c.RawPath = withoutPathParams(u.Path), ""
	return c.String()
}

// configurationError is a reverse proxy that does not send what the endpoint
// needs: it fails closed with 500, and the core hears of it (spec §3.4).
func (a *application) configurationError(w http.ResponseWriter, r *http.Request, cause error) {
	a.log.Error("forward auth request without a usable original URL or method: check the reverse proxy's configuration",
		"provider", a.provider.Name, "path", r.URL.Path, "remote", r.RemoteAddr, "error", cause)
	if a.events != nil {
		headers := map[string]any{}
		for name, v := range r.Header {
			if len(v) > 0 && !secretHeader(name) {
				headers[name] = v[0]
			}
		}
		ev := outpostapi.Event{
			Action: "configuration_error", App: "authentik.providers.proxy", ClientIP: r.RemoteAddr,
			Context: map[string]any{
				"message":  "forward auth request without a usable original URL or method: " + cause.Error(),
				"provider": a.provider.Name, "outpost": a.outpost, "url": r.URL.String(), "headers": headers,
			},
		}
		go a.events(context.WithoutCancel(r.Context()), ev)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("configuration error"))
}

// secretHeader names headers never copied into events.
func secretHeader(name string) bool {
	switch strings.ToLower(name) {
	case "cookie", "authorization", "proxy-authorization":
		return true
	}
	return false
}

// underReservedPrefix is true for the outpost's own paths, on a segment
// boundary: /outpost.goauthentik.iox/admin is an app path.
func underReservedPrefix(p string) bool {
	return p == reservedPrefix || strings.HasPrefix(p, reservedPrefix+"/")
}
