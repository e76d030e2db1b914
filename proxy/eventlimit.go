package proxy

import (
	"sync"
	"time"
)

// eventLimiter lets one event per key through per minute, so a reverse
// proxy that is wrong for every request tells the core once a minute, not
// once a request. It outlives snapshots.
type eventLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

const eventInterval = time.Minute

// allow reports whether an event for key may go out at now.
func (l *eventLimiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[key]; ok && now.Sub(t) < eventInterval {
		return false
	}
	if l.last == nil || len(l.last) >= 1024 {
		// Keys are provider and fixed cause: this only drops the stale.
		fresh := make(map[string]time.Time, len(l.last))
		for k, t := range l.last {
			if now.Sub(t) < eventInterval {
				fresh[k] = t
			}
		}
		l.last = fresh
	}
	l.last[key] = now
	return true
}
