package proxy

// Rate limits that outlive snapshots: budgets per client IP (refused
// credentials, back-channel logouts) and one event a minute per cause.

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultCredentialFailuresPerMinute is the budget of refused credentials
// per client IP: enough for a person mistyping an app password, far too
// few to guess one through the outpost.
const DefaultCredentialFailuresPerMinute = 30

// failureLimiter counts refused credentials per client IP (per /64 for
// IPv6, clientKey). An address that
// has used its budget gets 429 for new credentials until the budget
// refills; good credentials already verified (cached) still pass.
type failureLimiter struct {
	perMinute int
	mu        sync.Mutex
	byIP      map[netip.Addr]*ipBudget
	lastSweep time.Time
}

type ipBudget struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxTrackedIPs bounds the table; idle entries go first.
const maxTrackedIPs = 100_000

func newFailureLimiter(perMinute int) *failureLimiter {
	if perMinute <= 0 {
		perMinute = DefaultCredentialFailuresPerMinute
	}
	return &failureLimiter{perMinute: perMinute, byIP: map[netip.Addr]*ipBudget{}}
}

func (f *failureLimiter) budget(ip netip.Addr, now time.Time) *ipBudget {
	ip = clientKey(ip)
	b, ok := f.byIP[ip]
	if !ok {
		if len(f.byIP) >= maxTrackedIPs || now.Sub(f.lastSweep) > time.Minute {
			f.sweepLocked(now)
		}
		b = &ipBudget{lim: rate.NewLimiter(rate.Limit(float64(f.perMinute)/60), f.perMinute)}
		f.byIP[ip] = b
	}
	b.seen = now
	return b
}

// exhausted reports whether ip has no budget left for a new credential.
func (f *failureLimiter) exhausted(ip netip.Addr) bool {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.byIP[clientKey(ip)]
	return ok && b.lim.TokensAt(now) < 1
}

// failed spends one unit of ip's budget.
func (f *failureLimiter) failed(ip netip.Addr) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.budget(ip, now).lim.AllowN(now, 1)
}

// retryAfter is how long until ip may try one more credential.
func (f *failureLimiter) retryAfter(ip netip.Addr) time.Duration {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.byIP[clientKey(ip)]
	if !ok {
		return 0
	}
	missing := 1 - b.lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(b.lim.Limit()) * float64(time.Second))
}

// sweepLocked forgets addresses whose budget is full again: idle for
// longer than a whole refill.
func (f *failureLimiter) sweepLocked(now time.Time) {
	f.lastSweep = now
	for ip, b := range f.byIP {
		if now.Sub(b.seen) > time.Minute && b.lim.TokensAt(now) >= float64(f.perMinute) {
			delete(f.byIP, ip)
		}
	}
	if len(f.byIP) >= maxTrackedIPs {
		// Still full: keep the table bounded at the cost of forgetting.
		for ip := range f.byIP {
			delete(f.byIP, ip)
			if len(f.byIP) < maxTrackedIPs/2 {
				break
			}
		}
	}
}

// spend takes one unit of ip's budget, reporting false (and taking
// nothing) when none is left: check and spend in one step, for limits
// where every request counts.
func (f *failureLimiter) spend(ip netip.Addr) bool {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.budget(ip, now).lim.AllowN(now, 1)
}

// eventLimiter lets one event per key through per minute, so a reverse
// proxy that is wrong for every request tells the core once a minute, not
// once a request. It outlives snapshots.
type eventLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

const eventInterval = time.Minute

// allow reports whether an event for key may go out at now.
func (l *eventLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < eventInterval {
		return false
	}
	if l.last == nil || len(l.last) >= 1024 {
		// Keys are provider and fixed cause: this only drops the stale.
		fresh := make(map[string]time.Time, len(l.last))
		for k, t := range l.last {
			if now.Sub(t) < eventInterval {
				fresh[k] = t
			}
		}
		l.last = fresh
	}
	l.last[key] = now
	return true
}
