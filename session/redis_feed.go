package session

import (
	"sync"
	"time"
)

// feedState is whether this store's pub/sub link is heard from. It is
// separate from subUp (which only an error clears): a link that goes
// quiet without failing (a stalled connection) may be losing
// revocations too, and is down here until heard from again.
type feedState struct {
	mu sync.Mutex
	up bool
	// hub: OnFeed callbacks.
	hub feedHub
}

// feedHeard: a subscribe confirmation, message or pong arrived.
func (s *RedisStore) feedHeard() { s.feed.set(true) }

// feedDown: the link failed, or has been quiet past subscriptionFresh.
func (s *RedisStore) feedDown() { s.feed.set(false) }

// set records whether the link is heard from, and tells the OnFeed
// callbacks when that changed.
func (f *feedState) set(up bool) {
	f.mu.Lock()
	was := f.up
	f.up = up
	f.mu.Unlock()
	if was != up {
		f.hub.fire(up)
	}
}

// feedQuiet reports whether nothing was heard for longer than the cache
// trusts the link.
func (s *RedisStore) feedQuiet() bool {
	return time.Since(time.Unix(0, s.lastHeard.Load())) >= subscriptionFresh
}
