package session

import "sync"

// FeedWatcher is implemented by stores whose news of revocations on other
// replicas travels over a link that can break (Redis pub/sub). While it is
// down, revocations elsewhere reach no RevocationWatcher callback here: a
// watcher holding sessions open (websockets) must check them again.
type FeedWatcher interface {
	// OnFeed calls fn(false) when the link goes down or quiet, and
	// fn(true) when it is heard from again (revocations in between may
	// have gone untold), from a goroutine of the store's; fn must not
	// block. stop unregisters fn.
	OnFeed(fn func(up bool)) (stop func())
}

// feedHub fans link changes out to the registered callbacks.
type feedHub struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(bool)
}

func (h *feedHub) add(fn func(bool)) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = map[int]func(bool){}
	}
	id := h.next
	h.next++
	h.fns[id] = fn
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.fns, id)
	}
}

func (h *feedHub) fire(up bool) {
	h.mu.Lock()
	fns := make([]func(bool), 0, len(h.fns))
	for _, fn := range h.fns {
		fns = append(fns, fn)
	}
	h.mu.Unlock()
	for _, fn := range fns {
		fn(up)
	}
}
