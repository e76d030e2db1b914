package proxy

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// forwardRequest is the request a reverse proxy asks about in forward auth:
// the one it served, read only from what its shipped configuration always
// sets (docs/forward-auth.md, "Where the original request comes from").
type forwardRequest struct {
	// url is absolute: scheme, host (default port dropped), path, query.
	url *url.URL
	// method is the original method; known is false when the reverse proxy
	// did not say (nginx without X-Original-Method).
	method string
	known  bool
}

// forwardRefusal is why a forward-auth request cannot be decided. An
// operator's mistake (the reverse proxy sends too little, or is not
// trusted) is a 500 and an event at the core; anything a client can cause
// is a 4xx and a log line, never an event.
type forwardRefusal struct {
	operator bool
	// cause is a short, fixed phrase: the log's reason and the key events
	// are limited by, so it never holds what the client sent.
	cause string
	// detail may hold the client's values, for the log only.
	detail string
}

func (f *forwardRefusal) Error() string {
	if f.detail == "" {
		return f.cause
	}
	return f.cause + ": " + f.detail
}

func clientFault(cause, detail string) *forwardRefusal {
	return &forwardRefusal{cause: cause, detail: detail}
}

func operatorFault(cause string) *forwardRefusal {
	return &forwardRefusal{operator: true, cause: cause}
}

// forwardKindOf is the auth endpoint the path names, read on the path as
// written (escaped): an endpoint reached through encoded letters is no
// endpoint, and Envoy's original path follows its prefix verbatim.
func forwardKindOf(escapedPath string) forwardKind {
	switch {
	case escapedPath == pathAuthNginx:
		return forwardNginx
	case escapedPath == pathAuthTraefik, escapedPath == pathAuthCaddy:
		return forwardTraefik
	case escapedPath == pathAuthEnvoy || strings.HasPrefix(escapedPath, pathAuthEnvoy+"/"):
		return forwardEnvoy
	}
	return forwardNone
}

// resolveForward reads the original request of a forward-auth request, one
// source per endpoint:
//
//   - nginx: X-Original-URL, which the shipped snippet, authentik's
//     documented one and ingress-nginx always set (so a client's copy is
//     replaced); X-Original-URI (a path, on the request's own host) only
//     where no X-Original-URL came. X-Original-Method for the method.
//   - Traefik and Caddy: X-Forwarded-Proto, -Host and -Uri, which both set
//     themselves from the request they routed; X-Forwarded-Method.
//   - Envoy: the path after the endpoint's prefix, on the request's host,
//     with the request's method (ext_authz asks with the original's).
//
// Each of these headers counts only once: two copies mean something in
// between added one, and the request is refused.
func resolveForward(r *http.Request, kind forwardKind) (forwardRequest, *forwardRefusal) {
	o := originOf(r)
	var raw string
	var f forwardRequest
	switch kind {
	case forwardNginx:
		if v, bad := single(r, "X-Original-Url"); bad != nil {
			return f, bad
		} else if v != "" {
			raw = v
		} else if uri, bad := single(r, "X-Original-Uri"); bad != nil {
			return f, bad
		} else if uri != "" {
			if !strings.HasPrefix(uri, "/") {
				return f, clientFault("X-Original-URI is not a path", uri)
			}
			raw = o.Scheme + "://" + o.Host + uri
		} else {
			return f, missingOriginal(o, "nginx sent neither X-Original-URL nor X-Original-URI: include the shipped outpost-locations.conf")
		}
		m, bad := single(r, "X-Original-Method")
		if bad != nil {
			return f, bad
		}
		f.method, f.known = m, m != ""
	case forwardTraefik:
		proto, bad := single(r, "X-Forwarded-Proto")
		if bad != nil {
			return f, bad
		}
		host, bad := single(r, "X-Forwarded-Host")
		if bad != nil {
			return f, bad
		}
		uri, bad := single(r, "X-Forwarded-Uri")
		if bad != nil {
			return f, bad
		}
		if proto == "" || host == "" {
			return f, missingOriginal(o, "the reverse proxy sent no X-Forwarded-Proto or X-Forwarded-Host")
		}
		if uri == "" {
			uri = "/"
		}
		if !strings.HasPrefix(uri, "/") {
			return f, clientFault("X-Forwarded-Uri is not a path", uri)
		}
		if !validHost(host) {
			return f, clientFault("X-Forwarded-Host is not a host", host)
		}
		raw = strings.ToLower(proto) + "://" + host + uri
		m, bad := single(r, "X-Forwarded-Method")
		if bad != nil {
			return f, bad
		}
		f.method, f.known = m, m != ""
	case forwardEnvoy:
		rest := strings.TrimPrefix(r.URL.EscapedPath(), pathAuthEnvoy)
		if rest == "" {
			rest = "/"
		}
		if r.URL.RawQuery != "" {
			rest += "?" + r.URL.RawQuery
		}
		raw = o.Scheme + "://" + o.Host + rest
		f.method, f.known = r.Method, true
	default:
		return f, operatorFault("not a forward-auth endpoint")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return f, clientFault("the original URL does not parse", raw)
	case u.Scheme != "http" && u.Scheme != "https", u.Opaque != "":
		return f, clientFault("the original URL is not http or https", raw)
	case u.User != nil, !validHost(u.Host):
		return f, clientFault("the original URL's host is not a host", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		// A raw "#" in a request line: the app may cut the path there.
		return f, clientFault("the original URL holds a #", raw)
	}
	u.Host = withoutDefaultPort(u.Host, u.Scheme)
	f.url = u
	return f, nil
}

// single is the one value of header name, "" when absent; two or more
// copies are refused.
func single(r *http.Request, name string) (string, *forwardRefusal) {
	v := r.Header[name]
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", clientFault("the request carries "+name+" more than once", strings.Join(v, " | "))
}

// missingOriginal is a forward-auth request without its original URL: the
// reverse proxy is not trusted (its headers were dropped) or not
// configured to send them. Either way the operator must fix it.
func missingOriginal(o origin, cause string) *forwardRefusal {
	if !o.Trusted {
		return operatorFault("the reverse proxy is not a trusted proxy (AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS), so its forwarding headers were dropped")
	}
	return operatorFault(cause)
}

// checkForwardHost makes sure the host decided on is the host the reverse
// proxy routed on: every host the request names must agree with the
// original URL's, which picks the application (app).
//
//   - X-Forwarded-Host, when present, must be the original URL's host.
//     authentik's documented nginx snippet passes a client's copy through,
//     so a client could otherwise name one app's host while nginx serves
//     another's.
//   - The Host header, when it names an application (its name, any port),
//     must name app. The shipped snippets set it to nginx's server-selection
//     host, authentik's to $host; ingress-nginx sends the outpost's own
//     name, which names no application.
func (rt *router) checkForwardHost(r *http.Request, orig *url.URL, app *application) *forwardRefusal {
	want := orig.Host
	for _, v := range r.Header.Values("X-Forwarded-Host") {
		for rest, more := v, true; more; {
			var h string
			h, rest, more = strings.Cut(rest, ",")
			if got := withoutDefaultPort(strings.TrimSpace(h), orig.Scheme); !strings.EqualFold(got, want) {
				return clientFault("X-Forwarded-Host is not the original URL's host", h+" vs "+orig.Host)
			}
		}
	}
	if named := rt.byHostname(hostnameOf(r.Host)); len(named) > 0 {
		for _, a := range named {
			if a == app {
				return nil
			}
		}
		return clientFault("the Host header names another application than the original URL", r.Host+" vs "+orig.Host)
	}
	return nil
}

// withoutDefaultPort is host without ":80" for http or ":443" for https:
// nginx's $host:$server_port names the same host as a URL without a port.
func withoutDefaultPort(host, scheme string) string {
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		return strings.TrimSuffix(host, ":80")
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// hostnameOf is host without its port, lower case, without a final dot.
func hostnameOf(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}
