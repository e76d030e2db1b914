package proxy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-dev/outpost/session"
)

// A store's revocation feed (Redis pub/sub) can break: revocations on other
// replicas meanwhile reach no callback here, and the websockets of those
// sessions would stay open for good. So when the feed is back every tracked
// session is looked up again and the gone ones closed; while it is down,
// that is done every recheckWhileDown.

// recheckWhileDown is how often tracked sessions are checked while the
// feed is down (nanoseconds); a variable so tests can shorten it.
var recheckWhileDown atomic.Int64

func init() { recheckWhileDown.Store(int64(5 * time.Second)) }

const (
	// recheckWorkers bounds the lookups in flight during a recheck.
	recheckWorkers = 8
	recheckTimeout = 2 * time.Second
)

// feedRecheck is the recheck state of one sessionConns.
type feedRecheck struct {
	mu       sync.Mutex
	st       session.Store
	stopDown chan struct{} // closes the periodic loop while the feed is down
	running  bool
	again    bool
}

// watchFeed makes c recheck its sessions around feed gaps of st.
func (c *sessionConns) watchFeed(st session.Store) {
	fw, ok := st.(session.FeedWatcher)
	if !ok {
		return
	}
	c.feed.mu.Lock()
	c.feed.st = st
	c.feed.mu.Unlock()
	fw.OnFeed(func(up bool) {
		c.feed.mu.Lock()
		defer c.feed.mu.Unlock()
		if up {
			if c.feed.stopDown != nil {
				close(c.feed.stopDown)
				c.feed.stopDown = nil
			}
			go c.recheck()
			return
		}
		if c.feed.stopDown == nil {
			stop := make(chan struct{})
			c.feed.stopDown = stop
			go c.recheckUntil(stop)
		}
	})
}

func (c *sessionConns) recheckUntil(stop <-chan struct{}) {
	t := time.NewTicker(time.Duration(recheckWhileDown.Load()))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.recheck()
		}
	}
}

// recheck looks up every tracked session past any cache and closes the
// websockets of those gone. One runs at a time; a request for another
// while it runs makes it run once more after.
func (c *sessionConns) recheck() {
	c.feed.mu.Lock()
	if c.feed.running {
		c.feed.again = true
		c.feed.mu.Unlock()
		return
	}
	c.feed.running = true
	st := c.feed.st
	c.feed.mu.Unlock()
	for {
		c.recheckOnce(st)
		c.feed.mu.Lock()
		if !c.feed.again {
			c.feed.running = false
			c.feed.mu.Unlock()
			return
		}
		c.feed.again = false
		c.feed.mu.Unlock()
	}
}

func (c *sessionConns) recheckOnce(st session.Store) {
	c.mu.Lock()
	ids := make([]string, 0, len(c.byID))
	for id := range c.byID {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	work := make(chan string)
	var mu sync.Mutex
	var gone []string
	var wg sync.WaitGroup
	for range min(recheckWorkers, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				ctx, cancel := context.WithTimeout(session.WithoutCache(context.Background()), recheckTimeout)
				s, err := st.Get(ctx, id)
				cancel()
				// A store that cannot answer says nothing: the next
				// recheck, or the feed coming back, asks again.
				if errors.Is(err, session.ErrNotFound) || (err == nil && s.Expired(time.Now())) {
					mu.Lock()
					gone = append(gone, id)
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	if len(gone) > 0 {
		c.revoke(gone)
	}
}
