package session

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// A revocation a shared store (Redis, PostgreSQL) did not confirm (it was
// unreachable, or answered with an error) must not be lost: the session
// would live on. It is remembered here, this process refuses the sessions
// it names meanwhile, and it is tried again with backoff until the store
// confirms it, which then ends the sessions everywhere (and tells the
// other replicas).

const (
	defaultPendingRevocations = 10000
	// defaultRevocationRetryFor outlasts authentik's default session
	// (access token) validity of 24 h: a revoked session is refused here
	// for as long as it could have lived.
	defaultRevocationRetryFor = 24 * time.Hour
	pendingFirstRetry         = 100 * time.Millisecond
	pendingMaxBackoff         = 5 * time.Second
	pendingAttemptTimeout     = 2 * time.Second
)

// revocation names what a deletion ends: one session id, or a core sid or
// a subject, optionally within one provider. It is the pending set's key.
type revocation struct {
	id, sid, sub, provider string
}

func (r revocation) covers(s *Session) bool {
	switch {
	case r.id != "":
		return r.id == s.ID
	case r.provider != "" && r.provider != s.Provider:
		return false
	case r.sid != "":
		return r.sid == s.SID
	case r.sub != "":
		return r.sub == s.Sub
	}
	return false
}

type pendingItem struct {
	do      func(context.Context) (int, error)
	at      time.Time // asked then
	until   time.Time // given up on then
	next    time.Time // next attempt
	backoff time.Duration
	tries   int
}

type pendingRevocations struct {
	mu    sync.Mutex
	items map[revocation]*pendingItem
	max   int
	ttl   time.Duration
	n     atomic.Int32 // len(items), read without the lock on every Get
	wake  chan struct{}
	// name is the store's, for logs ("redis"); log is its logger.
	name string
	log  *slog.Logger
}

func (p *pendingRevocations) init(max int, ttl time.Duration, name string, log *slog.Logger) {
	p.name, p.log = name, log
	if max <= 0 {
		max = defaultPendingRevocations
	}
	if ttl <= 0 {
		ttl = defaultRevocationRetryFor
	}
	p.max, p.ttl = max, ttl
	p.items = map[revocation]*pendingItem{}
	p.wake = make(chan struct{}, 1)
}

// refuses reports whether s is named by a revocation still unconfirmed.
func (p *pendingRevocations) refuses(s *Session) bool {
	if p.n.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for r, it := range p.items {
		// A session begun after the revocation was asked (the person
		// signed in again) is not one it meant.
		if r.covers(s) && !s.CreatedAt.After(it.at) {
			return true
		}
	}
	return false
}

// remember keeps r for retries; false when the set is full of live ones.
func (p *pendingRevocations) remember(r revocation, do func(context.Context) (int, error), now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.items[r]; ok {
		return true // already retried; the newest closure does the same
	}
	if len(p.items) >= p.max {
		return false
	}
	p.items[r] = &pendingItem{do: do, at: now, until: now.Add(p.ttl), next: now.Add(pendingFirstRetry), backoff: pendingFirstRetry}
	p.n.Store(int32(len(p.items)))
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return true
}

// confirmed drops r: the store has done it.
func (p *pendingRevocations) confirmed(r revocation) {
	if p.n.Load() == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.items, r)
	p.n.Store(int32(len(p.items)))
}

// due returns the revocations to try now and when the next one is due.
func (p *pendingRevocations) due(now time.Time) (map[revocation]*pendingItem, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[revocation]*pendingItem{}
	wait := time.Hour
	for r, it := range p.items {
		if !now.Before(it.next) {
			out[r] = it
			continue
		}
		wait = min(wait, it.next.Sub(now))
	}
	return out, wait
}

// failed schedules the next attempt; false when r is given up on.
func (p *pendingRevocations) failed(r revocation, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	it, ok := p.items[r]
	if !ok {
		return true
	}
	it.tries++
	if !now.Before(it.until) {
		delete(p.items, r)
		p.n.Store(int32(len(p.items)))
		return false
	}
	it.backoff = min(it.backoff*2, pendingMaxBackoff)
	it.next = now.Add(it.backoff)
	return true
}

// revoke runs a deletion; one the store does not confirm is remembered,
// refused here and retried. The caller still gets the error (a person
// signing out is told, an identity provider asked to retry).
func (p *pendingRevocations) revoke(ctx context.Context, r revocation, do func(context.Context) (int, error)) (int, error) {
	n, err := do(ctx)
	if err == nil {
		p.confirmed(r)
		return n, nil
	}
	if p.remember(r, do, time.Now()) {
		p.log.Warn("revocation not confirmed by "+p.name+": refused here and retried until it is", "revocation", r.String(), "error", err)
	} else {
		p.log.Error("revocation not confirmed by "+p.name+", and too many are pending to retry this one", "revocation", r.String(), "error", err)
	}
	return n, err
}

// retryPending tries the remembered revocations again until Close.
func (s *RedisStore) retryPending() {
	defer s.wg.Done()
	s.pending.retry(s.ctx)
}

// retry tries the remembered revocations again until ctx ends.
func (p *pendingRevocations) retry(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		due, wait := p.due(time.Now())
		for r, it := range due {
			actx, cancel := context.WithTimeout(ctx, pendingAttemptTimeout)
			n, err := it.do(actx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				p.confirmed(r)
				p.log.Info("revocation confirmed by "+p.name+" after a retry", "revocation", r.String(), "sessions_ended", n, "tries", it.tries+1)
				continue
			}
			if !p.failed(r, time.Now()) {
				p.log.Error("revocation never confirmed by "+p.name+": given up", "revocation", r.String(), "error", err, "tried_for", p.ttl.String())
			}
		}
		if len(due) > 0 {
			continue // recompute: attempts took time
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-t.C:
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
	}
}

// String names the revocation for logs; session ids are secrets, so only
// their kind is said.
func (r revocation) String() string {
	var out string
	switch {
	case r.id != "":
		out = "session"
	case r.sid != "":
		out = "sid " + r.sid
	default:
		out = "sub " + r.sub
	}
	if r.provider != "" {
		out += " of provider " + r.provider
	}
	return out
}
