package devcore

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// postLogoutAllowed reports whether target may be a post-logout redirect
// for the provider: one of its registered redirect URIs, or its
// external_host (with or without the trailing slash of an empty path).
// Exact string match: anything else would be an open redirect.
func postLogoutAllowed(pc *ProviderConfig, target string) bool {
	if target == "" || pc.ExternalHost == "" {
		return false
	}
	if slices.Contains(registeredRedirectURIs(pc), target) || target == pc.ExternalHost {
		return true
	}
	u, err := url.Parse(pc.ExternalHost)
	return err == nil && u.Path == "" && u.RawQuery == "" && !strings.HasSuffix(pc.ExternalHost, "?") &&
		target == pc.ExternalHost+"/"
}

// handleEndSession is /application/o/<slug>/end-session/ (OpenID Connect
// RP-initiated logout), where the outpost's sign_out sends the browser
// (spec §13.1). It ends the browser's core session: the session is deleted,
// tokens issued under it are revoked, every outpost gets SESSION_END with
// its sid, and the cookie is cleared. id_token_hint is accepted and checked,
// but a bad one is only logged: the browser's own session is what ends.
// post_logout_redirect_uri is followed only when postLogoutAllowed.
func (p *identityProvider) handleEndSession(w http.ResponseWriter, r *http.Request) {
	cfg := p.s.config()
	pc := providerBySlug(cfg, r.PathValue("slug"))
	if pc == nil {
		p.renderMessage(w, http.StatusNotFound, pageNotFound, "There is no application here.")
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			p.renderMessage(w, http.StatusBadRequest, pageBadRequest, "The request could not be read.")
			return
		}
		q = r.Form
	}
	if hint := q.Get("id_token_hint"); hint != "" {
		if claims, err := verifyToken(cfg, pc, hint); err != nil {
			p.s.log.Info("end-session: ignoring an id_token_hint that does not verify", "application", appSlug(pc), "error", err)
		} else {
			p.s.log.Debug("end-session: id_token_hint", "application", appSlug(pc), "sub", claims["sub"], "sid", claims["sid"])
		}
	}
	text := "No one was signed in here."
	if sess := p.currentSession(r, cfg); sess != nil && p.endSession(sess.sid) {
		text = "You have been signed out."
	}
	if _, err := r.Cookie(coreSessionCookie); err == nil {
		clearSessionCookie(w, r)
	}
	if target := q.Get("post_logout_redirect_uri"); target != "" {
		if postLogoutAllowed(pc, target) {
			if st := q.Get("state"); st != "" {
				target = withQuery(target, url.Values{"state": {st}})
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
		p.s.log.Warn("end-session: post_logout_redirect_uri not registered, not redirecting", "application", appSlug(pc), "target", target)
	}
	p.renderMessage(w, http.StatusOK, pageSignedOut, text)
}
