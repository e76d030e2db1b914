package proxy

import (
	"sync"

	"github.com/outpost-dev/outpost/session"
)

// codecCache keeps cookie codecs from one configuration to the next.
// Deriving a codec's keys (two HKDFs and an AES key schedule) costs about
// 10 µs, and every provider has two: most of the time a 1,000-provider
// refresh spent building the data plane (issue 10). Codecs are immutable,
// so one may serve every snapshot whose options are the same. Each refresh
// keeps only the codecs it used, so a rotated secret's keys do not linger.
type codecCache struct {
	mu   sync.Mutex
	prev map[session.CookieOptions]*session.Codec
	next map[session.CookieOptions]*session.Codec
}

// begin starts a refresh; done ends it, dropping what it did not use.
func (c *codecCache) begin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next = make(map[session.CookieOptions]*session.Codec, len(c.prev))
}

func (c *codecCache) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prev, c.next = c.next, nil
}

// codec returns the codec for o, built once.
func (c *codecCache) codec(o session.CookieOptions) (*session.Codec, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cd := c.next[o]; cd != nil {
		return cd, nil
	}
	cd := c.prev[o]
	if cd == nil {
		var err error
		if cd, err = session.NewCodec(o); err != nil {
			return nil, err
		}
	}
	if c.next != nil {
		c.next[o] = cd
	}
	return cd, nil
}
