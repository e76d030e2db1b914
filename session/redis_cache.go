package session

import (
	"container/list"
	"sync"
	"time"
)

// readCache is a small LRU of sessions read from Redis, each kept for a
// short TTL. Every invalidation bumps a generation: a read that started
// before an invalidation does not put its (possibly stale) answer in.
type readCache struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	gen   uint64
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type cacheItem struct {
	id    string
	s     *Session
	until time.Time
}

func newReadCache(max int, ttl time.Duration) *readCache {
	return &readCache{max: max, ttl: ttl, order: list.New(), items: map[string]*list.Element{}}
}

func (c *readCache) get(id string, now time.Time) (*Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[id]
	if !ok {
		return nil, false
	}
	it := el.Value.(*cacheItem)
	if !now.Before(it.until) {
		c.order.Remove(el)
		delete(c.items, id)
		return nil, false
	}
	c.order.MoveToFront(el)
	return it.s, true
}

func (c *readCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores s unless something was invalidated since gen was read.
func (c *readCache) put(id string, s *Session, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if el, ok := c.items[id]; ok {
		c.order.Remove(el)
		delete(c.items, id)
	}
	for c.order.Len() >= c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheItem).id)
	}
	c.items[id] = c.order.PushFront(&cacheItem{id: id, s: s, until: now.Add(c.ttl)})
}

func (c *readCache) invalidate(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		if el, ok := c.items[id]; ok {
			c.order.Remove(el)
			delete(c.items, id)
		}
	}
}

func (c *readCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.order.Init()
	c.items = map[string]*list.Element{}
}

func (c *readCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
