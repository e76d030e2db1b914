package proxy

import (
	"net/http"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
)

// hostOnlyCookies reports whether p's cookies carry the __Host- prefix: in
// proxy and forward_single mode over HTTPS, where they belong to the one
// external host, so that no sibling subdomain can plant or overwrite them.
// forward_domain's cookie must span cookie_domain and cannot have it; over
// plain HTTP browsers refuse the prefix.
func hostOnlyCookies(p *outpostapi.Provider) bool {
	return p.ExternalURL.Scheme == "https" && p.Mode != outpostapi.ModeForwardDomain
}

// cookieOptions are the attributes of p's cookie name (session.CookieName
// when empty) living at most maxAge. A host-only cookie has no Domain
// whatever cookie_domain says: only forward_domain uses it.
func cookieOptions(p *outpostapi.Provider, name string, maxAge time.Duration) session.CookieOptions {
	o := session.CookieOptions{Name: name, ClientID: p.ClientID, CookieSecret: p.CookieSecret,
		Domain: p.CookieDomain, Secure: p.ExternalURL.Scheme == "https", MaxAge: maxAge}
	if hostOnlyCookies(p) {
		o.HostOnly, o.Domain = true, ""
	}
	return o
}

// expirePlainCookies deletes, on a provider with __Host- cookies, the
// cookies of the plain names that the request carries: left from before
// the prefix, or planted by a sibling. They are never read; sign-in and
// sign-out clear them so that they do not linger. A plain cookie may have
// been set with cookie_domain (as before the prefix), so that one too.
func (a *application) expirePlainCookies(w http.ResponseWriter, r *http.Request) {
	if !a.sessionCookies.HostOnly() {
		return
	}
	for _, name := range []string{a.sessionCookies.PlainName(), a.loginCookies.PlainName()} {
		if len(r.CookiesNamed(name)) == 0 {
			continue
		}
		http.SetCookie(w, &http.Cookie{Name: name, Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
		if d := a.provider.CookieDomain; d != "" {
			http.SetCookie(w, &http.Cookie{Name: name, Path: "/", Domain: d, MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
		}
	}
}
