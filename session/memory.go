package session

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// MemoryOptions tune a MemoryStore.
type MemoryOptions struct {
	// MaxSessions bounds memory; when full, the session closest to expiry is
	// evicted. Default 100000.
	MaxSessions int
	// SweepInterval is how often expired sessions are dropped. Default 1 min.
	SweepInterval time.Duration
	// OnEvict is called once per session evicted for room (not for expiry).
	OnEvict func()
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// MemoryStore keeps sessions in this process: the default for a single
// replica. Lookups by id, sid and sub are O(1); expiry is a min-heap.
type MemoryStore struct {
	opts MemoryOptions

	// mu guards the maps and the heap. A stored *Session is never changed
	// after Save put it in (a new Save replaces the entry), so Get hands
	// it out as it is, read-only.
	mu    sync.RWMutex
	byID  map[string]*entry
	bySID map[string]map[string]struct{}
	bySub map[string]map[string]struct{}
	exp   expiryHeap

	revoked revokeHub
	locks   localLocks
	once    onceSet

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

type entry struct {
	s     *Session
	index int // position in the expiry heap
}

// NewMemoryStore starts a store and its sweeper.
func NewMemoryStore(opts MemoryOptions) *MemoryStore {
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 100000
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &MemoryStore{
		opts:  opts,
		byID:  map[string]*entry{},
		bySID: map[string]map[string]struct{}{},
		bySub: map[string]map[string]struct{}{},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	m.locks.clock = opts.Now
	m.once.max = opts.MaxSessions
	go m.sweepLoop()
	return m
}

var errNoID = errors.New("session has no id")

func (m *MemoryStore) Get(_ context.Context, id string) (*Session, error) {
	m.mu.RLock()
	e, ok := m.byID[id]
	var s *Session
	if ok {
		s = e.s
	}
	m.mu.RUnlock()
	if s == nil || s.Expired(m.opts.Now()) {
		return nil, ErrNotFound
	}
	return s, nil // read-only (Store.Get); Save never changes a stored one
}

func (m *MemoryStore) Save(_ context.Context, s *Session) error {
	if s.ID == "" {
		return errNoID
	}
	c := s.Clone()
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.byID[s.ID]; ok {
		m.removeLocked(old)
	}
	now := m.opts.Now()
	if c.Expired(now) {
		return nil
	}
	for len(m.byID) >= m.opts.MaxSessions {
		// Drop what is already dead before evicting anyone alive.
		victim := m.exp[0]
		m.removeLocked(victim)
		if !victim.s.Expired(now) && m.opts.OnEvict != nil {
			m.opts.OnEvict()
		}
	}
	e := &entry{s: c}
	m.byID[c.ID] = e
	heap.Push(&m.exp, e)
	addIndex(m.bySID, c.SID, c.ID)
	addIndex(m.bySub, c.Sub, c.ID)
	return nil
}

func (m *MemoryStore) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	e, ok := m.byID[id]
	if ok {
		m.removeLocked(e)
	}
	m.mu.Unlock()
	if ok {
		m.revoked.fire([]string{id})
	}
	return nil
}

func (m *MemoryStore) DeleteBySID(_ context.Context, sid string) (int, error) {
	return m.deleteIndexed(m.bySID, sid, ""), nil
}

func (m *MemoryStore) DeleteBySub(_ context.Context, sub string) (int, error) {
	return m.deleteIndexed(m.bySub, sub, ""), nil
}

// DeleteBySIDFor implements ScopedDeleter.
func (m *MemoryStore) DeleteBySIDFor(_ context.Context, provider, sid string) (int, error) {
	if provider == "" {
		return 0, nil
	}
	return m.deleteIndexed(m.bySID, sid, provider), nil
}

// DeleteBySubFor implements ScopedDeleter.
func (m *MemoryStore) DeleteBySubFor(_ context.Context, provider, sub string) (int, error) {
	if provider == "" {
		return 0, nil
	}
	return m.deleteIndexed(m.bySub, sub, provider), nil
}

// deleteIndexed removes the sessions under key, only provider's unless
// provider is "".
func (m *MemoryStore) deleteIndexed(index map[string]map[string]struct{}, key, provider string) int {
	if key == "" {
		return 0
	}
	m.mu.Lock()
	var removed []string
	for id := range index[key] {
		if e, ok := m.byID[id]; ok && (provider == "" || e.s.Provider == provider) {
			m.removeLocked(e)
			removed = append(removed, id)
		}
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

func (m *MemoryStore) removeLocked(e *entry) {
	delete(m.byID, e.s.ID)
	heap.Remove(&m.exp, e.index)
	removeIndex(m.bySID, e.s.SID, e.s.ID)
	removeIndex(m.bySub, e.s.Sub, e.s.ID)
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

// sweep drops expired sessions, oldest expiry first.
func (m *MemoryStore) sweep() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	for len(m.exp) > 0 && m.exp[0].s.Expired(now) {
		m.removeLocked(m.exp[0])
	}
}

func addIndex(index map[string]map[string]struct{}, key, id string) {
	if key == "" {
		return
	}
	set := index[key]
	if set == nil {
		set = map[string]struct{}{}
		index[key] = set
	}
	set[id] = struct{}{}
}

func removeIndex(index map[string]map[string]struct{}, key, id string) {
	if set := index[key]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(index, key)
		}
	}
}

// expiryHeap orders entries by ExpiresAt, soonest first.
type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].s.ExpiresAt.Before(h[j].s.ExpiresAt) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
