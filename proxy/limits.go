package proxy

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"

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
