package proxy

// Websockets: the cap per client IP, and the tie of each to the session
// or credential that opened it, so it closes when that ends.

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/outpost-dev/outpost/session"
)

// DefaultMaxWebsocketsPerClient applies when Options leaves it at zero.
const DefaultMaxWebsocketsPerClient = 64

// connLimiter caps concurrent long-lived connections (websockets) per client
// IP (per /64 for IPv6, clientKey), so one client cannot hold every upstream connection open.
type connLimiter struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
	// sessions are the open websockets by session, closed on revocation.
	sessions sessionConns
}

func newConnLimiter(max int) *connLimiter {
	if max <= 0 {
		max = DefaultMaxWebsocketsPerClient
	}
	return &connLimiter{max: max, n: map[netip.Addr]int{}}
}

// acquire takes a slot for ip; false when ip already holds max.
func (l *connLimiter) acquire(ip netip.Addr) bool {
	ip = clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip] >= l.max {
		return false
	}
	l.n[ip]++
	return true
}

func (l *connLimiter) release(ip netip.Addr) {
	ip = clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip] <= 1 {
		delete(l.n, ip)
		return
	}
	l.n[ip]--
}

// sessionConns are the open websockets of each session, so that a revoked
// session (sign-out, SESSION_END, back-channel logout, here or on another
// replica) loses its long-lived connections too, not only its next request.
type sessionConns struct {
	mu      sync.Mutex
	next    int
	byID    map[string]map[int]context.CancelFunc
	watched sync.Once
	log     *slog.Logger
	// feed: rechecks after gaps in the store's revocation feed.
	feed feedRecheck
}

// track registers the cancel of one websocket of session id; untrack when
// it ends.
func (c *sessionConns) track(id string, cancel context.CancelFunc) (untrack func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[string]map[int]context.CancelFunc{}
	}
	n := c.next
	c.next++
	if c.byID[id] == nil {
		c.byID[id] = map[int]context.CancelFunc{}
	}
	c.byID[id][n] = cancel
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.byID[id], n)
		if len(c.byID[id]) == 0 {
			delete(c.byID, id)
		}
	}
}

// revoke closes every websocket of the sessions ids; it returns how many.
func (c *sessionConns) revoke(ids []string) int {
	c.mu.Lock()
	var cancels []context.CancelFunc
	for _, id := range ids {
		for _, cancel := range c.byID[id] {
			cancels = append(cancels, cancel)
		}
		delete(c.byID, id)
	}
	log := c.log
	c.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
	if len(cancels) > 0 && log != nil {
		log.Info("closed websockets of revoked sessions", "websockets", len(cancels), "sessions", len(ids))
	}
	return len(cancels)
}

// watch subscribes to the store's revocations, once for the process.
func (c *sessionConns) watch(st session.Store, log *slog.Logger) {
	c.watched.Do(func() {
		c.mu.Lock()
		c.log = log
		c.mu.Unlock()
		st.OnRevoke(func(ids []string) { c.revoke(ids) })
		c.watchFeed(st)
	})
}

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
	a.closeAtExpiry(ctx, cancel, s)
	return r.WithContext(ctx), true
}

// closeAtExpiry closes a session's websocket when the session ends by
// running out: at its expiry the store is asked again, and a session a
// refresh extended keeps it open until the new expiry. Ends the store
// announces (revocation, eviction) close it through track; this covers
// the ones it does not: a Redis key timing out, a sweep on another replica.
// A store that cannot answer then closes it too.
func (a *application) closeAtExpiry(ctx context.Context, cancel context.CancelFunc, s *session.Session) {
	id := s.ID
	var t *time.Timer
	check := func() {
		cur, err := a.store.Get(session.WithoutCache(ctx), id)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil || cur.Expired(time.Now()):
			a.log.Info("websocket closed: its session ended", "provider", a.provider.Name, "reason", endReason(err))
			cancel()
		default:
			t.Reset(time.Until(cur.ExpiresAt))
		}
	}
	// Set before it can fire: check resets it.
	t = time.AfterFunc(time.Duration(math.MaxInt64), check)
	t.Reset(time.Until(s.ExpiresAt))
	context.AfterFunc(ctx, func() { t.Stop() })
}

func endReason(err error) string {
	switch {
	case err == nil:
		return "expired"
	case errors.Is(err, session.ErrNotFound):
		return "expired or removed"
	}
	return "the session store could not confirm it: " + err.Error()
}

// trackCredentialWebsocket ties a websocket opened with a Bearer token or
// an app password to that credential, as a session's websockets are tied
// to the session: it closes when the token expires, and when a check of
// the credential, once per credential cache window, no longer accepts it
// (revoked, or the app password removed).
func (a *application) trackCredentialWebsocket(r *http.Request, authorization string, s *session.Session) *http.Request {
	ctx, cancel := context.WithCancel(r.Context())
	if !s.TokenExpiry.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, s.TokenExpiry)
		context.AfterFunc(ctx, stop)
	}
	// The check sees only the credential, on the request's own origin.
	check := r.Clone(context.WithoutCancel(r.Context()))
	check.Header = http.Header{"Authorization": {authorization}}
	go func() {
		tick := time.NewTicker(max(a.credentials.positive, time.Second))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if a.authorizationIdentity(check).session == nil {
					a.log.Info("websocket closed: its credential is no longer accepted", "provider", a.provider.Name, "request_id", requestID(r))
					cancel()
					return
				}
			}
		}
	}()
	context.AfterFunc(r.Context(), cancel)
	return r.WithContext(ctx)
}
