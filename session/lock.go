package session

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Locker serialises work on a key across every process sharing the store
// (for Redis: every replica), such as redeeming a session's refresh token
// exactly once.
type Locker interface {
	// Lock waits until it holds key, or ctx ends (then it returns ctx's
	// error). The lock lapses by itself after ttl, so a holder that dies
	// never blocks the others for longer. unlock releases it; calling it
	// after the lock lapsed does not release another holder's lock.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
}

// ErrLockTTL is returned for a lock asked with no lifetime.
var ErrLockTTL = errors.New("lock needs a positive ttl")

// localLocks are keyed locks inside one process.
type localLocks struct {
	mu    sync.Mutex
	held  map[string]*localLock
	clock func() time.Time
}

type localLock struct {
	until    time.Time
	released chan struct{}
}

func (l *localLocks) lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	if ttl <= 0 {
		return nil, ErrLockTTL
	}
	for {
		l.mu.Lock()
		if l.held == nil {
			l.held = map[string]*localLock{}
		}
		now := l.clock()
		cur := l.held[key]
		if cur == nil || !now.Before(cur.until) {
			if cur != nil {
				close(cur.released) // lapsed: wake its other waiters too
			}
			mine := &localLock{until: now.Add(ttl), released: make(chan struct{})}
			l.held[key] = mine
			l.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					l.mu.Lock()
					defer l.mu.Unlock()
					if l.held[key] == mine {
						delete(l.held, key)
						close(mine.released)
					}
				})
			}, nil
		}
		wait := cur.until.Sub(now)
		l.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-cur.released:
		case <-t.C:
		}
		t.Stop()
	}
}
