package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shared is what the stores that replicas share (Redis, PostgreSQL) have
// in common: a read cache trusted only while the link that carries the
// other replicas' news is up and fresh, the revocations told to watchers,
// the revocations the store did not confirm, and the deletions built on
// one store-specific delete.
type shared struct {
	name   string // for logs: "redis", "postgresql"
	origin string // this store's name in the news it sends
	log    *slog.Logger

	cache   *readCache
	revoked revokeHub
	pending pendingRevocations

	// the link's health: the cache is used only while it is fresh.
	subUp     atomic.Bool
	lastHeard atomic.Int64 // unix nanos
	feed      feedState

	// remove deletes what r names (for r.provider only when set) and
	// announces it to the other replicas; op names it for errors.
	remove func(ctx context.Context, op string, r revocation) (int, error)
}

func (s *shared) init(name string, log *slog.Logger, cacheSize int, cacheTTL time.Duration, pendingMax int, retryFor time.Duration) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s.name, s.origin, s.log = name, hex.EncodeToString(b), log
	if cacheSize > 0 {
		s.cache = newReadCache(cacheSize, cacheTTL)
	}
	s.pending.init(pendingMax, retryFor, name, log)
}

func (s *shared) cacheUsable(ctx context.Context) bool {
	if s.cache == nil || cacheBypassed(ctx) || !s.subUp.Load() {
		return false
	}
	return time.Since(time.Unix(0, s.lastHeard.Load())) < subscriptionFresh
}

// Subscribed reports whether the link that carries the other replicas'
// news is up and fresh, that is whether the read cache is in use.
func (s *shared) Subscribed() bool { return s.cacheUsable(context.Background()) }

// get is Store.Get over fetch, which reads the stored JSON (nil: none).
func (s *shared) get(ctx context.Context, id string, now time.Time, fetch func(ctx context.Context) ([]byte, error)) (*Session, error) {
	useCache := s.cacheUsable(ctx)
	var gen uint64
	if useCache {
		// An expired copy may have been extended by a refresh elsewhere:
		// only the store can say.
		if c, ok := s.cache.get(id, time.Now()); ok && !c.Expired(now) {
			if s.pending.refuses(c) {
				return nil, ErrNotFound
			}
			return c, nil // read-only (Store.Get)
		}
		gen = s.cache.generation()
	}
	raw, err := fetch(ctx)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, ErrNotFound
	}
	sess, err := decodeStoredSession(string(raw))
	if err != nil {
		// Not ours or damaged: it cannot authenticate anyone.
		s.log.Warn("unreadable session in "+s.name, "error", err)
		return nil, ErrNotFound
	}
	if sess.Expired(now) || s.pending.refuses(sess) {
		return nil, ErrNotFound
	}
	if useCache {
		s.cache.put(id, sess, gen, time.Now())
	}
	return sess, nil
}

// saved drops the session a write replaced from this replica's cache,
// after the write: a read that began before it cannot cache the old
// version (the generation moved on).
func (s *shared) saved(id string) {
	if s.cache != nil {
		s.cache.invalidate([]string{id})
	}
}

// removed drops deleted sessions from this replica's cache and tells its
// watchers (the others hear it through the store's news).
func (s *shared) removed(ids []string) {
	if len(ids) == 0 {
		return
	}
	if s.cache != nil {
		s.cache.invalidate(ids)
	}
	s.revoked.fire(ids)
}

// heard: the link was heard from.
func (s *shared) heard() {
	s.lastHeard.Store(time.Now().UnixNano())
	s.feed.set(true)
}

// handle is news from a replica: "r <origin> <ids…>" (revoked) or
// "s <origin> <id>" (replaced). Our own is already done.
func (s *shared) handle(payload string) {
	f := strings.Fields(payload)
	if len(f) < 3 || f[1] == s.origin {
		return
	}
	ids := f[2:]
	if s.cache != nil {
		s.cache.invalidate(ids)
	}
	if f[0] == "r" {
		s.revoked.fire(ids)
	}
}

// OnRevoke implements RevocationWatcher: revocations here and, through the
// store's news, on every other replica sharing it.
func (s *shared) OnRevoke(fn func(ids []string)) (stop func()) { return s.revoked.add(fn) }

// OnFeed implements FeedWatcher.
func (s *shared) OnFeed(fn func(up bool)) (stop func()) { return s.feed.hub.add(fn) }

// The deletions go through pending.revoke: one the store does not confirm
// is refused here and retried until it does (redis_pending.go).

func (s *shared) Delete(ctx context.Context, id string) error {
	_, err := s.revoke(ctx, "delete", revocation{id: id})
	return err
}

func (s *shared) DeleteBySID(ctx context.Context, sid string) (int, error) {
	return s.revoke(ctx, "delete_by_sid", revocation{sid: sid})
}

func (s *shared) DeleteBySub(ctx context.Context, sub string) (int, error) {
	return s.revoke(ctx, "delete_by_sub", revocation{sub: sub})
}

// DeleteBySIDFor implements ScopedDeleter.
func (s *shared) DeleteBySIDFor(ctx context.Context, provider, sid string) (int, error) {
	if provider == "" {
		return 0, nil
	}
	return s.revoke(ctx, "delete_by_sid", revocation{sid: sid, provider: provider})
}

// DeleteBySubFor implements ScopedDeleter.
func (s *shared) DeleteBySubFor(ctx context.Context, provider, sub string) (int, error) {
	if provider == "" {
		return 0, nil
	}
	return s.revoke(ctx, "delete_by_sub", revocation{sub: sub, provider: provider})
}

func (s *shared) revoke(ctx context.Context, op string, r revocation) (int, error) {
	if r.id == "" && r.sid == "" && r.sub == "" {
		return 0, nil
	}
	return s.pending.revoke(ctx, r, func(ctx context.Context) (int, error) { return s.remove(ctx, op, r) })
}

// pollLock is Locker.Lock over try, which takes the lock for token if it
// is free or lapsed, and release, which frees it if token still holds it.
// Waiters try again after 10 ms, doubling to 100 ms.
func (s *shared) pollLock(ctx context.Context, ttl time.Duration, try func(ctx context.Context, token string) (bool, error), release func(ctx context.Context, token string) error) (func(), error) {
	if ttl <= 0 {
		return nil, ErrLockTTL
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	wait := 10 * time.Millisecond
	for {
		ok, err := try(ctx, token)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if ok {
			var once sync.Once
			return func() {
				once.Do(func() {
					uctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					if err := release(uctx, token); err != nil {
						// It lapses by itself after ttl.
						s.log.Warn("could not release a session lock", "error", err)
					}
				})
			}, nil
		}
		if !sleepCtx(ctx, wait) {
			return nil, ctx.Err()
		}
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// sleepCtx sleeps d, or less if ctx ends first (then false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
