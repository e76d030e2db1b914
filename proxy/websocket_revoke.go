package proxy

import (
	"context"
	"errors"
	"net/http"

	"github.com/outpost-dev/outpost/session"
)

// trackWebsocket ties a websocket about to be proxied to its session: when
// the session is revoked, the request's context is cancelled, which makes
// the reverse proxy close both ends. The untracking runs when the request
// ends. ok is false when the session was revoked meanwhile (answered).
func (a *application) trackWebsocket(w http.ResponseWriter, r *http.Request, s *session.Session) (*http.Request, bool) {
	ctx, cancel := context.WithCancel(r.Context())
	untrack := a.websockets.sessions.track(s.ID, cancel)
	context.AfterFunc(r.Context(), func() { untrack(); cancel() })
	// A revocation between the session check and track() found nothing to
	// close: look again, past any cache, now that it would.
	if _, err := a.store.Get(session.WithoutCache(ctx), s.ID); err != nil {
		cancel()
		if errors.Is(err, session.ErrNotFound) {
			http.SetCookie(w, a.sessionCookies.Expire())
			a.redirectToStart(w, r)
		} else {
			a.errorPage(w, r, http.StatusServiceUnavailable, "Service unavailable", "Sessions cannot be checked right now. Try again in a moment.", err)
		}
		return r, false
	}
	return r.WithContext(ctx), true
}
