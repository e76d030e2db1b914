package proxy

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/outpost-dev/outpost/outpostapi"
)

// OAuth 2.0 Protected Resource Metadata (RFC 9728): what a machine client
// (an MCP client, an AI agent) that got a 401 needs to get a token: the
// authorization server (the provider's issuer), the scopes, and how to
// send the token. Every 401 names the document in its Bearer challenge
// (resource_metadata, RFC 9728 §5.1). The document is public: it says
// nothing a discovery document of the issuer does not already say.

// pathResourceMetadata is RFC 9728's well-known path; for an external host
// with a path (https://host/app) the path follows it (§3.1).
const pathResourceMetadata = "/.well-known/oauth-protected-resource"

// DefaultProtectedResourceMetadata is whether providers serve the document
// where neither the provider (standalone protected_resource_metadata) nor
// the outpost (OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA) says.
const DefaultProtectedResourceMetadata = true

// resourceMetadataMaxAge is how long clients may cache the document.
const resourceMetadataMaxAge = "300"

// resourceMetadata is the document (RFC 9728 §2): only what a client needs.
type resourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
}

// metadataIssuer is the issuer the document names, "" when the provider
// does not serve it: turned off, or a core provider whose configuration
// names no issuer (nothing true to say, so nothing is said).
func metadataIssuer(p *outpostapi.Provider, opts Options, oc *oidcClient) string {
	on := DefaultProtectedResourceMetadata
	switch {
	case p.ProtectedResourceMetadata != nil:
		on = *p.ProtectedResourceMetadata
	case opts.ProtectedResourceMetadata != nil:
		on = *opts.ProtectedResourceMetadata
	}
	switch {
	case !on:
		return ""
	case p.Issuer != "":
		return p.Issuer
	case oc.resolved != nil:
		// As browsers and clients reach the core (AUTHENTIK_HOST_BROWSER):
		// the iss of the tokens the outpost accepts.
		return oc.resolved.coreIssuer
	}
	return ""
}

// resourceFor is the resource a request to host (lower case, default port
// dropped) over scheme is for, as its origin (scheme://host) and path; the
// document lives at the origin, under pathResourceMetadata + path. ok is
// false when the provider serves no document for that host. The resource
// is the app's external URL, as clients reach it (RFC 9728 §3.3: the
// resource must be what the client used); for forward_domain, the host
// asked for within the cookie domain.
func (a *application) resourceFor(scheme, host string) (origin, path string, ok bool) {
	if a.resourceIssuer == "" {
		return "", "", false
	}
	ext := a.provider.ExternalURL
	own := strings.ToLower(withoutDefaultPort(ext.Host, ext.Scheme))
	switch {
	case host == own:
		return ext.Scheme + "://" + ext.Host, strings.TrimSuffix(ext.Path, "/"), true
	case a.provider.Mode == outpostapi.ModeForwardDomain && a.inCookieDomain(host) && (scheme == "https" || scheme == "http"):
		return scheme + "://" + host, "", true
	}
	return "", "", false
}

// inCookieDomain reports whether host (with or without a port) lies within
// a forward_domain provider's cookie domain.
func (a *application) inCookieDomain(host string) bool {
	d := strings.ToLower(strings.TrimPrefix(a.provider.CookieDomain, "."))
	return d != "" && domainMatch(hostnameOf(host), d)
}

// metadataURL is the document's URL for the request r is about (the
// original request in forward auth), "" when none is served for it.
func (a *application) metadataURL(r *http.Request) string {
	scheme, host := originOf(r).Scheme, originOf(r).Host
	if info := infoOf(r); info != nil && info.original != nil {
		scheme, host = info.original.url.Scheme, info.original.url.Host
	}
	origin, path, ok := a.resourceFor(scheme, strings.ToLower(host))
	if !ok {
		return ""
	}
	return origin + pathResourceMetadata + path
}

// bearerChallenge is a Bearer challenge with params (", error=..." or "")
// and the document's URL when the provider serves one.
func (a *application) bearerChallenge(r *http.Request, params string) string {
	c := `Bearer realm="` + a.provider.ExternalURL.Host + `"` + params
	if u := a.metadataURL(r); u != "" {
		c += `, resource_metadata="` + u + `"`
	}
	return c
}

// servedResourceMetadata answers a request for the document, and reports
// whether it did: anything under the well-known path is the outpost's
// while the provider serves the document (an unknown path under it is a
// 404, never the app's).
func (a *application) servedResourceMetadata(w http.ResponseWriter, r *http.Request) bool {
	if a.resourceIssuer == "" || (r.URL.Path != pathResourceMetadata && !strings.HasPrefix(r.URL.Path, pathResourceMetadata+"/")) {
		return false
	}
	o := originOf(r)
	origin, path, ok := a.resourceFor(o.Scheme, strings.ToLower(o.Host))
	if !ok || r.URL.Path != pathResourceMetadata+path {
		a.log.Debug("protected resource metadata: no document here", "provider", a.provider.Name, "host", o.Host,
			"path", r.URL.Path, "request_id", requestID(r))
		writeMetadataError(w, http.StatusNotFound, "not_found", "no protected resource metadata at this URL")
		return true
	}
	h := w.Header()
	// Public and without credentials: any origin's page may read it (MCP
	// clients in a browser).
	h.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "*")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS")
		writeMetadataError(w, http.StatusMethodNotAllowed, "method_not_allowed", "the metadata is read with GET")
		return true
	}
	body, err := json.Marshal(resourceMetadata{
		Resource:               origin + path,
		AuthorizationServers:   []string{a.resourceIssuer},
		ScopesSupported:        a.provider.ScopesToRequest,
		BearerMethodsSupported: []string{"header"},
	})
	if err != nil {
		writeMetadataError(w, http.StatusInternalServerError, "server_error", "the metadata could not be written")
		return true
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age="+resourceMetadataMaxAge)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(body, '\n'))
	}
	return true
}

func writeMetadataError(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{code, message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// withMetadataChallenge is challenge, then a Bearer challenge naming the
// document when the provider serves one: a client that tried Basic learns
// where tokens come from too.
func (a *application) withMetadataChallenge(r *http.Request, challenge string) []string {
	if a.metadataURL(r) == "" {
		return []string{challenge}
	}
	return []string{challenge, a.bearerChallenge(r, "")}
}
