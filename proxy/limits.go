package proxy

import (
	"net/netip"
	"sync"
)

// defaultMaxWebsocketsPerClient applies when Options leaves it at zero.
const defaultMaxWebsocketsPerClient = 64

// connLimiter caps concurrent long-lived connections (websockets) per client
// IP, so one client cannot hold every upstream connection open.
type connLimiter struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
}

func newConnLimiter(max int) *connLimiter {
	if max <= 0 {
		max = defaultMaxWebsocketsPerClient
	}
	return &connLimiter{max: max, n: map[netip.Addr]int{}}
}

// acquire takes a slot for ip; false when ip already holds max.
func (l *connLimiter) acquire(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip] >= l.max {
		return false
	}
	l.n[ip]++
	return true
}

func (l *connLimiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip] <= 1 {
		delete(l.n, ip)
		return
	}
	l.n[ip]--
}
