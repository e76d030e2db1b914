// Package reuse keeps what one configuration built for the next one.
//
// A refresh mostly brings back the values of the last one, and building
// some of them is most of a refresh's cost (a skip_path_regex compiled, a
// cookie codec's keys derived). A Cache hands back what the last round
// built for the same key, and forgets what a round did not use, so it
// holds only what is in use and a rotated secret's keys do not linger.
package reuse

import "sync"

// Cache holds values built from keys, round by round. The values are shared
// by everyone who asks for the same key, so they must never be changed. The
// zero Cache is ready; it is safe for concurrent use.
type Cache[K comparable, V any] struct {
	mu        sync.Mutex
	prev, cur map[K]V
}

// Get returns the value for k: the one this round already has, else the
// one the last round used, else build(k). A failed build is not kept, so
// the next Get tries again.
func (c *Cache[K, V]) Get(k K, build func(K) (V, error)) (V, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[k]; ok {
		return v, nil
	}
	v, ok := c.prev[k]
	if !ok {
		var err error
		if v, err = build(k); err != nil {
			return v, err
		}
	}
	if c.cur == nil {
		c.cur = map[K]V{}
	}
	c.cur[k] = v
	return v, nil
}

// Rotate ends a round: the next round can reuse what this one used, and
// what it did not use is dropped.
func (c *Cache[K, V]) Rotate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prev, c.cur = c.cur, nil
}
