package assertion

import (
	"sync"
	"time"
)

// cache keeps signed assertions until they are due for renewal, bounded:
// past max entries the expired go first, then arbitrary ones (a map's
// order), so a flood of new sessions costs signatures, never memory.
type cache struct {
	max int
	mu  sync.RWMutex
	m   map[cacheKey]cached
}

type cached struct {
	token string
	// version is CacheKey's Version when signed: a refreshed session's
	// new claims are never answered with the old ones.
	version string
	// keys is the key set's generation when signed: a key set that
	// changed (a key removed from a key file) re-signs.
	keys  uint64
	until time.Time // renew from then
}

func newCache(max int) *cache { return &cache{max: max, m: map[cacheKey]cached{}} }

func (c *cache) get(k cacheKey, version string, keys uint64, now time.Time) (string, bool) {
	if c.max < 0 {
		return "", false
	}
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || e.version != version || e.keys != keys || !now.Before(e.until) {
		return "", false
	}
	return e.token, true
}

func (c *cache) put(k cacheKey, version, token string, keys uint64, now, until time.Time) {
	if c.max < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		c.makeRoom(now)
	}
	c.m[k] = cached{token: token, version: version, keys: keys, until: until}
}

// makeRoom drops the expired entries, and if that is not a quarter of
// them, arbitrary ones until it is.
func (c *cache) makeRoom(now time.Time) {
	for k, e := range c.m {
		if !now.Before(e.until) {
			delete(c.m, k)
		}
	}
	for k := range c.m {
		if len(c.m) <= c.max*3/4 {
			break
		}
		delete(c.m, k)
	}
}

func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
