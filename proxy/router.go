package proxy

import (
	"net"
	"sort"
	"strings"

	"github.com/outpost-dev/outpost/outpostapi"
)

// router maps a request host to the application serving it (spec §4). It is
// built once per snapshot and read without locks.
type router struct {
	exact map[string]*application
	// domain holds forward_domain applications, longest cookie domain first.
	domain []domainRoute
	// hostnames maps each external host's name (no port) to the
	// applications on it, for checking a forward-auth request's Host.
	hostnames map[string][]*application
	// single is the only application when the configuration holds
	// exactly one provider and it was built.
	single *application
	count  int
}

type domainRoute struct {
	suffix string // cookie_domain without its leading dot, lower case
	app    *application
}

// newRouter routes to apps, the applications built for snap's providers
// (a provider with no application is not routed).
func newRouter(snap *outpostapi.Snapshot, apps map[*outpostapi.Provider]*application) *router {
	r := &router{exact: make(map[string]*application, len(snap.Providers)), hostnames: map[string][]*application{}}
	for i := range snap.Providers {
		p := &snap.Providers[i]
		app := apps[p]
		if app == nil {
			continue
		}
		// Later providers (name order from the core) win on a duplicate host,
		// as in the reference.
		ext := p.ExternalURL
		r.exact[strings.ToLower(withoutDefaultPort(ext.Host, ext.Scheme))] = app
		name := hostnameOf(ext.Host)
		r.hostnames[name] = append(r.hostnames[name], app)
		if p.Mode == outpostapi.ModeForwardDomain {
			if d := strings.ToLower(strings.TrimPrefix(p.CookieDomain, ".")); d != "" {
				r.domain = append(r.domain, domainRoute{suffix: d, app: app})
			}
		}
	}
	sort.SliceStable(r.domain, func(i, j int) bool { return len(r.domain[i].suffix) > len(r.domain[j].suffix) })
	r.count = len(r.exact)
	// Only a configuration of exactly one provider, built, serves every
	// host: where one was rejected or left out, its host must answer as an
	// unknown host, not be served by the other with its rules.
	if r.count == 1 && len(snap.Providers) == 1 && len(snap.Rejected) == 0 {
		for _, app := range r.exact {
			r.single = app
		}
	}
	return r
}

// route finds the application for host ("name" or "name:port").
func (r *router) route(host string) *application {
	host = strings.ToLower(host)
	if app, ok := r.exact[host]; ok {
		return app
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(name, ".")
	for _, d := range r.domain {
		if domainMatch(name, d.suffix) {
			return d.app
		}
	}
	if name == host {
		// No port (nginx's $host, as authentik's documented snippet sends
		// it): the one application on that name.
		if apps := r.hostnames[name]; len(apps) == 1 {
			return apps[0]
		}
	}
	return r.single
}

// byHostname is every application a host name (no port) belongs to: those
// whose external host has that name, and the forward_domain application
// whose cookie domain holds it. Nil when it names none.
func (r *router) byHostname(name string) []*application {
	apps := r.hostnames[name]
	for _, d := range r.domain {
		if domainMatch(name, d.suffix) {
			return append(apps[:len(apps):len(apps)], d.app)
		}
	}
	return apps
}

// domainMatch reports whether host is domain or a subdomain of it, on a
// label boundary: evilexample.com never matches example.com.
func domainMatch(host, domain string) bool {
	if host == domain {
		return true
	}
	return strings.HasSuffix(host, domain) && host[len(host)-len(domain)-1] == '.'
}
