package session

import (
	"context"
	"sync"
	"time"
)

// RevocationWatcher tells when sessions end by revocation (Delete,
// DeleteBySID, DeleteBySub and their scoped forms), wherever it happened:
// in this process or, for a shared store, on another replica, and when the
// store itself ends them (the memory store's evictions for room and its
// sweep of expired sessions). A session running out may go untold (a Redis
// key timing out): watchers of one session check at its expiry.
type RevocationWatcher interface {
	// OnRevoke calls fn with the IDs of revoked sessions, from a goroutine
	// of the store's; fn must not block for long. stop unregisters fn.
	OnRevoke(fn func(ids []string)) (stop func())
}

// ReplayGuard remembers a one-time value (a logout token's jti) across
// every process sharing the store.
type ReplayGuard interface {
	// FirstUse records key for ttl and reports whether it was new. An error
	// means the store could not answer: treat the value as used.
	FirstUse(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Forget drops key, so that a use whose work failed after FirstUse
	// (ending the sessions a logout token names) can be tried again.
	Forget(ctx context.Context, key string) error
}

type noCacheKey struct{}

// WithoutCache asks a store with a read cache to read from the source of
// truth, e.g. to re-read a session under the refresh lock.
func WithoutCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, noCacheKey{}, true)
}

func cacheBypassed(ctx context.Context) bool {
	v, _ := ctx.Value(noCacheKey{}).(bool)
	return v
}

// revokeHub fans revocations out to the registered callbacks.
type revokeHub struct {
	mu   sync.Mutex
	next int
	fns  map[int]func([]string)
}

func (h *revokeHub) add(fn func([]string)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = map[int]func([]string){}
	}
	id := h.next
	h.next++
	h.fns[id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.fns, id)
	}
}

// fire calls every callback with ids; never under a store lock.
func (h *revokeHub) fire(ids []string) {
	if len(ids) == 0 {
		return
	}
	h.mu.Lock()
	fns := make([]func([]string), 0, len(h.fns))
	for _, fn := range h.fns {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(append([]string(nil), ids...))
	}
}

// onceSet remembers one-time keys in this process until they lapse.
type onceSet struct {
	mu   sync.Mutex
	seen map[string]time.Time
	max  int
}

func (o *onceSet) firstUse(key string, ttl time.Duration, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[string]time.Time{}
	}
	if until, ok := o.seen[key]; ok && now.Before(until) {
		return false
	}
	if len(o.seen) >= o.max {
		o.sweepLocked(now)
	}
	if len(o.seen) >= o.max {
		// Full of live keys: refuse rather than forget one (fail closed).
		return false
	}
	o.seen[key] = now.Add(ttl)
	return true
}

func (o *onceSet) forget(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.seen, key)
}

func (o *onceSet) sweep(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sweepLocked(now)
}

func (o *onceSet) sweepLocked(now time.Time) {
	for k, until := range o.seen {
		if !now.Before(until) {
			delete(o.seen, k)
		}
	}
}
