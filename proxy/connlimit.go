package proxy

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// DefaultMaxConnsPerClient caps the open connections of one client IP (per
// /64 for IPv6) across all listeners (OUTPOST_LISTEN__MAX_CONNS_PER_CLIENT).
// A browser opens about six per host; an office behind one NAT address
// needs more, which is what the variable is for.
const DefaultMaxConnsPerClient = 256

// connRefusalLogEvery: one log line per client and interval while its
// connections are refused, not one per connection.
const connRefusalLogEvery = time.Minute

// ConnLimit counts open connections per client IP over every listener it
// wraps. Trusted proxy peers are not counted: behind a reverse proxy or a
// load balancer every connection comes from them, and capping them would
// cap all users at once; the proxy in front is where its clients are capped.
type ConnLimit struct {
	max   int
	trust trust
	log   *slog.Logger

	mu sync.Mutex
	by map[netip.Addr]*connCount
}

type connCount struct {
	n      int
	logged time.Time
}

// NewConnLimit allows max open connections per client outside trusted.
func NewConnLimit(max int, trusted []netip.Prefix, log *slog.Logger) *ConnLimit {
	if max <= 0 {
		max = DefaultMaxConnsPerClient
	}
	if log == nil {
		log = slog.Default()
	}
	return &ConnLimit{max: max, trust: trust{cidrs: trusted}, log: log, by: map[netip.Addr]*connCount{}}
}

// Listener wraps a raw TCP listener (before any PROXY header or TLS, so the
// peer is the one that opened the connection). A connection past the cap
// is closed as soon as it is accepted.
func (l *ConnLimit) Listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, limit: l}
}

func (l *ConnLimit) acquire(key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.by[key]
	if c == nil {
		c = &connCount{}
		l.by[key] = c
	}
	if c.n >= l.max {
		if now := time.Now(); now.Sub(c.logged) >= connRefusalLogEvery {
			c.logged = now
			l.log.Warn("connections refused: too many open connections from this client", "client_ip", key.String(), "limit", l.max)
		}
		return false
	}
	c.n++
	return true
}

func (l *ConnLimit) release(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.by[key]; c != nil {
		if c.n--; c.n <= 0 {
			delete(l.by, key)
		}
	}
}

type limitedListener struct {
	net.Listener
	limit *ConnLimit
}

func (ln *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := peerAddr(c)
		if !ip.IsValid() || ln.limit.trust.contains(ip) {
			return c, nil
		}
		key := clientKey(ip)
		if !ln.limit.acquire(key) {
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { ln.limit.release(key) }}, nil
	}
}

func peerAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
