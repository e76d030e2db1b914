package session

import (
	"container/heap"
	"context"
	"errors"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// MemoryOptions tune a MemoryStore.
type MemoryOptions struct {
	// MaxSessions bounds memory; when full, the session closest to expiry is
	// evicted. Default 100000.
	MaxSessions int
	// CacheSize is how many recently used sessions are kept decoded, ready
	// for Get; the others are compact records that Get decodes (tens of
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

// MemoryStore keeps sessions in this process: the default for a single
// replica. Each session is one compact record (record.go) of a few hundred
// bytes, packed into pages (memory_pages.go) with its provider's dictionary;
// a bounded cache keeps the recently used ones decoded. Lookups by id, sid
// and sub are O(1) (memory_entries.go); expiry is a min-heap.
type MemoryStore struct {
	opts MemoryOptions

	// writers is held by whoever changes the store, before mu: a table
	// that must grow is rebuilt holding only writers, so that lookups go
	// on meanwhile (tablesWithRoom).
	writers sync.Mutex
	// mu guards everything below but the entries' atomics. A record is
	// never changed after Save put it in (a new Save replaces the entry),
	// and neither is a decoded session, so Get hands it out as it is,
	// read-only.
	mu        sync.RWMutex
	ents      entries
	tables    [3]indexTable // by keyID, keySub, keySID
	seed      maphash.Seed
	exp       expiryHeap
	providers providerTable
	pages     recordPages
	hot       hotCache

	revoked revokeHub
	locks   localLocks
	once    onceSet

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
		opts: opts,
		seed: maphash.MakeSeed(),
		hot:  hotCache{size: max(opts.CacheSize, 0)},
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	m.exp.a = &m.ents
	m.locks.clock = opts.Now
	m.once.max = opts.MaxSessions
	go m.sweepLoop()
	return m
}

var errNoID = errors.New("session has no id")

// DefaultMaxSessionsPerSubject is MemoryOptions.MaxSessionsPerSubject's
// default: more browsers and devices than one person uses at one app.
const DefaultMaxSessionsPerSubject = 50

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
	i, ok := m.lookupID(id)
	if !ok || m.ents.at(i).expires <= now {
		m.mu.RUnlock()
		return nil, ErrNotFound
	}
	e := m.ents.at(i)
	if s := e.hot.Load(); s != nil {
		if e.used.Load() == 0 {
			e.used.Store(1) // only when unset: no write on the usual hit
		}
		m.mu.RUnlock()
		return s, nil // read-only (Store.Get)
	}
	rec, provider, dict := e.rec, m.providers.name(e.provider), m.providers.dict(e.provider)
	m.mu.RUnlock()

	s, err := decodeRecord(rec, provider, dict)
	if err != nil {
		return nil, err
	}
	if m.hot.size == 0 {
		return s, nil
	}
	// Cache it only if the entry still holds the record just decoded, of
	// the same provider (not in the record): a Delete or Save meanwhile
	// must not be undone by a late insert.
	m.mu.RLock()
	if j, ok := m.lookupID(id); ok && j == i && e.rec == rec && m.providers.name(e.provider) == provider {
		if e.hot.CompareAndSwap(nil, s) {
			m.hot.add(&m.ents, i, s)
		} else if h := e.hot.Load(); h != nil {
			s = h
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
	m.mu.RLock()
	dict := m.providers.dictFor(s.Provider)
	m.mu.RUnlock()
	// A copy: later changes to s never reach the store.
	rec, sample, err := encodeRecordFor(s, dict)
	if err != nil {
		return false, err
	}
	ended, err := m.insert(s, rec, sample, dict, mustExist)
	// Sessions evicted for room ended too: their websockets close.
	m.revoked.fire(ended)
	if errors.Is(err, errGone) {
		return false, nil
	}
	return err == nil, err
}

// errGone: insert with mustExist found no live session to replace.
var errGone = errors.New("session gone")

// insert stores rec, s packed with dict (the provider's dictionary when
// Save began) and, when dict is nil, a sample for the provider's
// dictionary. ended are the live sessions it evicted for room. With
// mustExist it stores nothing (errGone) unless s.ID is stored and live.
func (m *MemoryStore) insert(s *Session, rec string, sample, dict []byte, mustExist bool) (ended []string, err error) {
	expires := unixNano(s.ExpiresAt)
	tags := [3]uint32{m.tag(s.ID), m.tag(s.Sub), m.tag(s.SID)}
	m.writers.Lock()
	defer m.writers.Unlock()
	grown := m.tablesWithRoom()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range grown {
		if grown[k].slots != nil {
			m.tables[k] = grown[k]
		}
	}
	// The provider is counted first: replacing its only session must
	// not drop its dictionary.
	pid := m.providers.intern(s.Provider)
	now := unixNano(m.opts.Now())
	old, ok := m.lookupID(s.ID)
	if mustExist && (!ok || m.ents.at(old).expires <= now) {
		m.providers.release(pid)
		return nil, errGone
	}
	if ok {
		m.removeLocked(old)
	}
	if expires <= now {
		m.providers.release(pid)
		return nil, nil
	}
	if cur := m.providers.dict(pid); dict != nil && unsafe.SliceData(dict) != unsafe.SliceData(cur) {
		// The provider had no session left meanwhile, and its
		// dictionary went with it.
		if rec, sample, err = encodeRecordFor(s, cur); err != nil {
			m.providers.release(pid)
			return nil, err
		}
	}
	if m.providers.dict(pid) == nil {
		m.providers.dicts[pid] = providerDict(sample)
	}
	if victim, ok := m.subjectFullLocked(pid, s.Sub, tags[keySub]); ok {
		ended = append(ended, m.evictLocked(victim))
	}
	for m.tables[keyID].n >= m.opts.MaxSessions {
		// Drop what is already dead before evicting anyone alive.
		victim := m.exp.ids[0]
		if m.ents.at(victim).expires > now {
			ended = append(ended, m.evictLocked(victim))
		} else {
			m.removeLocked(victim)
		}
	}
	i := m.ents.alloc()
	e := m.ents.at(i)
	e.rec, e.expires, e.provider, e.tags = m.pages.put(rec), expires, pid, tags
	e.used.Store(0)
	heap.Push(&m.exp, i)
	for k := range tags {
		if tags[k] != 0 {
			m.tables[k].insert(&m.ents, k, i)
		}
	}
	return ended, nil
}

// subjectFullLocked reports whether provider pid's account sub holds
// MaxSessionsPerSubject sessions, and which of them expires first.
func (m *MemoryStore) subjectFullLocked(pid uint32, sub string, tag uint32) (victim uint32, full bool) {
	if tag == 0 {
		return 0, false
	}
	n, first := 0, int64(math.MaxInt64)
	m.tables[keySub].each(&m.ents, keySub, tag, func(i uint32) bool {
		e := m.ents.at(i)
		if e.provider != pid {
			return true
		}
		// The table holds every session whose sub hashes to tag.
		if got, _, err := recordKeys(e.rec, m.providers.dict(pid)); err != nil || got != sub {
			return true
		}
		n++
		if e.expires < first {
			victim, first = i, e.expires
		}
		return true
	})
	return victim, n >= m.opts.MaxSessionsPerSubject
}

// evictLocked removes live entry i for room and returns its session id.
func (m *MemoryStore) evictLocked(i uint32) string {
	id := strings.Clone(recordID(m.ents.at(i).rec))
	m.removeLocked(i)
	if m.opts.OnEvict != nil {
		m.opts.OnEvict()
	}
	return id
}

func (m *MemoryStore) Delete(_ context.Context, id string) error {
	m.lock()
	i, ok := m.lookupID(id)
	if ok {
		m.removeLocked(i)
	}
	m.unlock()
	if ok {
		m.revoked.fire([]string{id})
	}
	return nil
}

func (m *MemoryStore) DeleteBySID(_ context.Context, sid string) (int, error) {
	return m.deleteIndexed(keySID, sid, ""), nil
}

func (m *MemoryStore) DeleteBySub(_ context.Context, sub string) (int, error) {
	return m.deleteIndexed(keySub, sub, ""), nil
}

// DeleteBySIDFor implements ScopedDeleter.
func (m *MemoryStore) DeleteBySIDFor(_ context.Context, provider, sid string) (int, error) {
	if provider == "" {
		return 0, nil
	}
	return m.deleteIndexed(keySID, sid, provider), nil
}

// DeleteBySubFor implements ScopedDeleter.
func (m *MemoryStore) DeleteBySubFor(_ context.Context, provider, sub string) (int, error) {
	if provider == "" {
		return 0, nil
	}
	return m.deleteIndexed(keySub, sub, provider), nil
}

// deleteIndexed removes the sessions whose Sub (keySub) or SID (keySID) is
// key, only provider's unless provider is "".
func (m *MemoryStore) deleteIndexed(k int, key, provider string) int {
	if key == "" {
		return 0
	}
	tag := m.tag(key)
	m.lock()
	pid, known := m.providers.lookup(provider)
	if provider != "" && !known {
		m.unlock()
		return 0
	}
	var candidates []uint32
	m.tables[k].each(&m.ents, k, tag, func(i uint32) bool {
		if provider == "" || m.ents.at(i).provider == pid {
			candidates = append(candidates, i)
		}
		return true
	})
	var removed []string
	for _, i := range candidates {
		rec := m.ents.at(i).rec
		// The table holds every session whose key hashes to tag; the
		// record says whose key it really is.
		sub, sid, err := recordKeys(rec, m.providers.dict(m.ents.at(i).provider))
		if err != nil || [3]string{keySub: sub, keySID: sid}[k] != key {
			continue
		}
		removed = append(removed, strings.Clone(recordID(rec)))
		m.removeLocked(i)
	}
	m.unlock()
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
	return m.tables[keyID].n, nil
}

func (m *MemoryStore) Close() error {
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

// lock and unlock are for changing the store.
func (m *MemoryStore) lock()   { m.writers.Lock(); m.mu.Lock() }
func (m *MemoryStore) unlock() { m.mu.Unlock(); m.writers.Unlock() }

// tablesWithRoom rebuilds, twice the size, each index table that the next
// insert would otherwise grow under the write lock: at a million sessions
// the rebuild reads every entry, tens of milliseconds for which no
// request could look up its session. Called holding writers only, which
// keeps the tables and entries as they are while lookups read them.
func (m *MemoryStore) tablesWithRoom() (grown [3]indexTable) {
	for k := range m.tables {
		if t := &m.tables[k]; t.full() {
			grown[k] = t.rebuilt(&m.ents, k, max(len(t.slots)*2, minTableSlots))
		}
	}
	return grown
}

// tag is key's 32-bit hash for the index tables; 0 only for "", which
// no table holds.
func (m *MemoryStore) tag(key string) uint32 {
	if key == "" {
		return 0
	}
	h := maphash.String(m.seed, key)
	return max(uint32(h)^uint32(h>>32), 1)
}

// lookupID finds the entry of session id. Called with the store's lock
// held, for reading or writing.
func (m *MemoryStore) lookupID(id string) (uint32, bool) {
	t := &m.tables[keyID]
	if len(t.slots) == 0 || id == "" {
		return 0, false
	}
	tag, mask := m.tag(id), len(t.slots)-1
	for p := t.home(tag); t.slots[p] != 0; p = (p + 1) & mask {
		i := t.slots[p] - 1
		if e := m.ents.at(i); e.tags[keyID] == tag && recordID(e.rec) == id {
			return i, true
		}
	}
	return 0, false
}

// removeLocked frees entry i; its decoded session, if cached, is never
// served again.
func (m *MemoryStore) removeLocked(i uint32) {
	e := m.ents.at(i)
	for k := range m.tables {
		if e.tags[k] != 0 {
			m.tables[k].remove(&m.ents, k, i)
		}
	}
	heap.Remove(&m.exp, int(e.heapPos))
	m.providers.release(e.provider)
	e.hot.Store(nil)
	rec := e.rec
	e.rec, e.tags = "", [3]uint32{}
	m.ents.release(i)
	if p := m.pages.release(rec); p != nil {
		m.compact(p)
	}
}

// compact moves the records still stored in p, a page no longer in use,
// to the current page.
func (m *MemoryStore) compact(p *recordPage) {
	p.each(func(rec string) {
		i, ok := m.lookupID(recordID(rec))
		if !ok {
			return
		}
		if e := m.ents.at(i); unsafe.StringData(e.rec) == unsafe.StringData(rec) {
			e.rec = m.pages.put(rec)
		}
	})
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

// sweep drops expired sessions, oldest expiry first, and tells the
// watchers they ended.
func (m *MemoryStore) sweep() {
	m.lock()
	now := unixNano(m.opts.Now())
	var ended []string
	for len(m.exp.ids) > 0 && m.ents.at(m.exp.ids[0]).expires <= now {
		ended = append(ended, strings.Clone(recordID(m.ents.at(m.exp.ids[0]).rec)))
		m.removeLocked(m.exp.ids[0])
	}
	m.unlock()
	m.revoked.fire(ended)
}
