package session

import (
	"context"
	"sync"
	"time"
)

// memoryKeys is the MemoryStore's KeyStore: this process only, which is
// all a memory store is shared with.
type memoryKeys struct {
	mu sync.Mutex
	m  map[string]memoryKey
}

type memoryKey struct {
	value   []byte
	expires time.Time
}

// Key implements KeyStore.
func (m *MemoryStore) Key(_ context.Context, name string) ([]byte, error) {
	k := &m.keys
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[name]
	if !ok || !m.opts.Now().Before(v.expires) {
		return nil, ErrNotFound
	}
	return append([]byte(nil), v.value...), nil
}

// AddKey implements KeyStore. Expired names are dropped here: there are
// a few per rotation period, so a pass over them costs nothing.
func (m *MemoryStore) AddKey(_ context.Context, name string, value []byte, expires time.Time) ([]byte, error) {
	k := &m.keys
	now := m.opts.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	for n, v := range k.m {
		if !now.Before(v.expires) {
			delete(k.m, n)
		}
	}
	if v, ok := k.m[name]; ok {
		return append([]byte(nil), v.value...), nil
	}
	if !now.Before(expires) {
		return append([]byte(nil), value...), nil
	}
	if k.m == nil {
		k.m = map[string]memoryKey{}
	}
	k.m[name] = memoryKey{value: append([]byte(nil), value...), expires: expires}
	return append([]byte(nil), value...), nil
}
