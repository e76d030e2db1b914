package session

import (
	"container/heap"
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"time"
)

// MemoryOptions tune a MemoryStore.
type MemoryOptions struct {
	// MaxSessions bounds memory; when full, the session closest to expiry is
	// evicted. Default 100000.
	MaxSessions int
	// CacheSize is how many recently used sessions are kept decoded, ready
	// for Get; the others are records that Get decodes (tens of
	// microseconds). Default DefaultMemoryCacheSize; negative: none.
	CacheSize int
	// SweepInterval is how often expired sessions are dropped. Default 1 min.
	SweepInterval time.Duration
	// MaxSessionsPerSubject bounds one account's sessions at one provider:
	// signing in again past it ends that account's session closest to
	// expiry, not someone else's. Default 50.
	MaxSessionsPerSubject int
	// OnEvict is called once per session evicted for room (not for expiry).
	OnEvict func()
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// DefaultMaxSessionsPerSubject is MemoryOptions.MaxSessionsPerSubject's
// default: more browsers and devices than one person uses at one app.
const DefaultMaxSessionsPerSubject = 50

// MemoryStore keeps sessions in this process: the default for a single
// replica. Each session is one record (record.go), found by id, sub and sid
// through maps (memory_index.go) and ordered by expiry in a heap; a bounded
// cache keeps the recently used ones decoded (memory_cache.go).
type MemoryStore struct {
	opts MemoryOptions

	// mu guards the maps, the heap and the entries' positions. A record is
	// never changed once stored (a Save stores a new entry), and neither is
	// a decoded session, so Get hands it out as it is, read-only.
	mu     sync.RWMutex
	byID   map[string]*memoryEntry // keyed by a slice of the entry's record
	subs   keyIndex
	sids   keyIndex
	expiry expiryHeap
	cache  decodedCache

	revoked revokeHub
	locks   localLocks
	once    onceSet
	// keys are the assertion signing keys (memory_keys.go).
	keys memoryKeys

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// NewMemoryStore starts a store and its sweeper.
func NewMemoryStore(opts MemoryOptions) *MemoryStore {
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 100000
	}
	if opts.MaxSessionsPerSubject <= 0 {
		opts.MaxSessionsPerSubject = DefaultMaxSessionsPerSubject
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultMemoryCacheSize
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &MemoryStore{
		opts:  opts,
		byID:  map[string]*memoryEntry{},
		subs:  keyIndex{which: bySub, heads: map[string]*memoryEntry{}},
		sids:  keyIndex{which: bySID, heads: map[string]*memoryEntry{}},
		cache: decodedCache{size: max(opts.CacheSize, 0)},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	m.locks.clock = opts.Now
	m.once.max = opts.MaxSessions
	go m.sweepLoop()
	return m
}

var errNoID = errors.New("session has no id")

// unixNano is t in unix nanoseconds, clamped to what an int64 holds.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minUnixNano):
		return math.MinInt64
	case t.After(maxUnixNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

func (m *MemoryStore) Get(_ context.Context, id string) (*Session, error) {
	now := unixNano(m.opts.Now())
	m.mu.RLock()
	e := m.byID[id]
	if e == nil || e.expires <= now {
		m.mu.RUnlock()
		return nil, ErrNotFound
	}
	if s := e.decoded.Load(); s != nil {
		if !e.used.Load() {
			e.used.Store(true) // only when unset: no write on the usual hit
		}
		m.mu.RUnlock()
		return s, nil // read-only (Store.Get)
	}
	m.mu.RUnlock()

	s, err := decodeRecord(e.rec)
	if err != nil {
		return nil, err
	}
	if m.cache.size == 0 {
		return s, nil
	}
	// Kept only while the entry is still the one stored: entries are never
	// reused, so a Delete or Save meanwhile is not undone by a late insert.
	m.mu.RLock()
	if m.byID[id] == e {
		if e.decoded.CompareAndSwap(nil, s) {
			m.cache.add(e)
		} else if d := e.decoded.Load(); d != nil {
			s = d
		}
	}
	m.mu.RUnlock()
	return s, nil
}

func (m *MemoryStore) Save(_ context.Context, s *Session) error {
	_, err := m.save(s, false)
	return err
}

// SaveIfExists implements Store: the check and the write happen under the
// same lock as Delete's.
func (m *MemoryStore) SaveIfExists(_ context.Context, s *Session) (bool, error) {
	return m.save(s, true)
}

func (m *MemoryStore) save(s *Session, mustExist bool) (bool, error) {
	if s.ID == "" {
		return false, errNoID
	}
	// The record is a copy: later changes to s never reach the store.
	rec, err := encodeRecord(s)
	if err != nil {
		return false, err
	}
	e := newMemoryEntry(rec, unixNano(s.ExpiresAt))
	m.mu.Lock()
	ended, saved := m.insertLocked(e, mustExist)
	m.mu.Unlock()
	// Sessions evicted for room ended too: their websockets close.
	m.revoked.fire(ended)
	return saved, nil
}

// insertLocked stores e, replacing the session of its id. With mustExist
// it stores nothing (saved false) unless that session is stored and live.
// ended are the sessions it ended to make room.
func (m *MemoryStore) insertLocked(e *memoryEntry, mustExist bool) (ended []string, saved bool) {
	now := unixNano(m.opts.Now())
	k := e.keys()
	old := m.byID[k.id]
	if mustExist && (old == nil || old.expires <= now) {
		return nil, false
	}
	if old != nil {
		m.removeLocked(old) // a replace: nobody is told, the session goes on
	}
	if e.expires <= now {
		return nil, true
	}
	if victim := m.subjectFullLocked(k); victim != nil {
		ended = append(ended, m.endLocked(victim, now))
	}
	for len(m.byID) >= m.opts.MaxSessions {
		ended = append(ended, m.endLocked(m.expiry[0], now))
	}
	m.byID[k.id] = e
	heap.Push(&m.expiry, e)
	m.subs.add(e, k)
	m.sids.add(e, k)
	return ended, true
}

// subjectFullLocked is, when k's account holds MaxSessionsPerSubject
// sessions at k's provider, the one of them that expires first.
func (m *MemoryStore) subjectFullLocked(k recordKeys) (victim *memoryEntry) {
	n := 0
	m.subs.each(k.sub, func(e *memoryEntry) {
		if e.keys().provider != k.provider {
			return
		}
		n++
		if victim == nil || e.expires < victim.expires {
			victim = e
		}
	})
	if n < m.opts.MaxSessionsPerSubject {
		return nil
	}
	return victim
}

// endLocked removes e to make room and returns its id; a live session is
// counted as evicted.
func (m *MemoryStore) endLocked(e *memoryEntry, now int64) string {
	id := strings.Clone(e.keys().id)
	m.removeLocked(e)
	if e.expires > now && m.opts.OnEvict != nil {
		m.opts.OnEvict()
	}
	return id
}

// removeLocked takes e out of the maps, the heap and the cache.
func (m *MemoryStore) removeLocked(e *memoryEntry) {
	k := e.keys()
	delete(m.byID, k.id)
	heap.Remove(&m.expiry, int(e.heapAt))
	m.subs.remove(e, k)
	m.sids.remove(e, k)
	m.cache.drop(e)
}

func (m *MemoryStore) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	e := m.byID[id]
	if e != nil {
		m.removeLocked(e)
	}
	m.mu.Unlock()
	if e != nil {
		m.revoked.fire([]string{id})
	}
	return nil
}

func (m *MemoryStore) DeleteBySID(_ context.Context, sid string) (int, error) {
	return m.deleteIndexed(&m.sids, sid, ""), nil
}

func (m *MemoryStore) DeleteBySub(_ context.Context, sub string) (int, error) {
	return m.deleteIndexed(&m.subs, sub, ""), nil
}

// DeleteBySIDFor implements ScopedDeleter.
func (m *MemoryStore) DeleteBySIDFor(_ context.Context, provider, sid string) (int, error) {
	if provider == "" {
		return 0, nil
	}
	return m.deleteIndexed(&m.sids, sid, provider), nil
}

// DeleteBySubFor implements ScopedDeleter.
func (m *MemoryStore) DeleteBySubFor(_ context.Context, provider, sub string) (int, error) {
	if provider == "" {
		return 0, nil
	}
	return m.deleteIndexed(&m.subs, sub, provider), nil
}

// deleteIndexed removes the sessions listed under key in x, only
// provider's unless provider is "".
func (m *MemoryStore) deleteIndexed(x *keyIndex, key, provider string) int {
	if key == "" {
		return 0
	}
	m.mu.Lock()
	var ends []*memoryEntry
	x.each(key, func(e *memoryEntry) {
		if provider == "" || e.keys().provider == provider {
			ends = append(ends, e)
		}
	})
	removed := make([]string, 0, len(ends))
	for _, e := range ends {
		removed = append(removed, strings.Clone(e.keys().id))
		m.removeLocked(e)
	}
	m.mu.Unlock()
	m.revoked.fire(removed)
	return len(removed)
}

// OnRevoke implements RevocationWatcher for this process.
func (m *MemoryStore) OnRevoke(fn func(ids []string)) (stop func()) { return m.revoked.add(fn) }

// Lock implements Locker inside this process.
func (m *MemoryStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	return m.locks.lock(ctx, key, ttl)
}

// FirstUse implements ReplayGuard inside this process; it remembers at
// most MaxSessions keys at once and refuses new ones while full.
func (m *MemoryStore) FirstUse(_ context.Context, key string, ttl time.Duration) (bool, error) {
	return m.once.firstUse(key, ttl, m.opts.Now()), nil
}

// Forget implements ReplayGuard.
func (m *MemoryStore) Forget(_ context.Context, key string) error {
	m.once.forget(key)
	return nil
}

func (m *MemoryStore) Len(context.Context) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byID), nil
}

func (m *MemoryStore) Close() error {
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

func (m *MemoryStore) sweepLoop() {
	defer close(m.done)
	t := time.NewTicker(m.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
			m.once.sweep(m.opts.Now())
		}
	}
}

// sweep drops expired sessions, soonest expiry first, and tells the
// watchers they ended.
func (m *MemoryStore) sweep() {
	m.mu.Lock()
	now := unixNano(m.opts.Now())
	var ended []string
	for len(m.expiry) > 0 && m.expiry[0].expires <= now {
		ended = append(ended, m.endLocked(m.expiry[0], now))
	}
	m.mu.Unlock()
	m.revoked.fire(ended)
}
