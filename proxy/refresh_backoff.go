package proxy

import (
	"sync"
	"time"
)

// After a refresh fails for a reason that may pass (the identity provider
// unreachable, a 5xx, a token that does not verify yet), the session's
// still-valid token is served without asking again until the backoff ends:
// a busy session must not send the provider a refresh grant per request.
// It doubles from refreshBackoffMin up to refreshBackoffMax. Once the token
// has expired, requests are refused (503) while it backs off: the session
// is kept for the next try, up to expiredRefreshGrace.
const (
	refreshBackoffMin = 2 * time.Second
	refreshBackoffMax = time.Minute
	// expiredRefreshGrace is how long after its token's expiry a session
	// whose refresh keeps failing (not refused) is kept for another try;
	// past it the next failure ends the session.
	expiredRefreshGrace = 5 * time.Minute
	// refreshBackoffCap bounds the sessions remembered; past it, entries
	// whose wait is over are dropped first, then all.
	refreshBackoffCap = 10000
)

// refreshBackoff remembers, per session id, when its refresh may be tried
// again. Shared by every application of a server (it outlives snapshots)
// and kept in this process only: each replica backs off on its own.
type refreshBackoff struct {
	mu sync.Mutex
	m  map[string]backoffEntry
}

type backoffEntry struct {
	next  time.Time
	delay time.Duration
}

// waiting reports whether id's refresh is backing off at now.
func (b *refreshBackoff) waiting(id string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[id]
	return ok && now.Before(e.next)
}

// failed records a failed refresh of id at now and returns the wait.
func (b *refreshBackoff) failed(id string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]backoffEntry{}
	}
	e, ok := b.m[id]
	if !ok && len(b.m) >= refreshBackoffCap {
		for k, v := range b.m {
			if !now.Before(v.next) {
				delete(b.m, k)
			}
		}
		if len(b.m) >= refreshBackoffCap {
			clear(b.m)
		}
	}
	e.delay = min(max(e.delay*2, refreshBackoffMin), refreshBackoffMax)
	e.next = now.Add(e.delay)
	b.m[id] = e
	return e.delay
}

// forget drops id: its refresh succeeded, or the session ended.
func (b *refreshBackoff) forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, id)
}
