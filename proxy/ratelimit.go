package proxy

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
