package devcore

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// authentik 2026.8+ honours X-Forwarded-Proto, -Host and -For only from
// the peers in its AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS. The devcore,
// speaking as such a core, does the same with trusted_proxy_cidrs (its
// default is the core's), so an outpost whose back-channel calls rely on
// X-Forwarded-Proto for the token's iss meets the same failure a real
// core would give it. Speaking as 2026.2 it honours them from anyone.

// defaultTrustedProxyCIDRs is the core's default.
var defaultTrustedProxyCIDRs = []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fe80::/10", "::1/128"}

// checkTrustedProxies parses trusted_proxy_cidrs into c.trusted.
func (c *Config) checkTrustedProxies() error {
	cidrs := c.TrustedProxyCIDRs
	if cidrs == nil {
		cidrs = defaultTrustedProxyCIDRs
	}
	c.trusted = make([]netip.Prefix, 0, len(cidrs))
	for i, s := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return c.fieldErr("trusted_proxy_cidrs", []any{"trusted_proxy_cidrs", i}, "%q is not a CIDR (e.g. 10.0.0.0/8)", s)
		}
		c.trusted = append(c.trusted, p.Masked())
	}
	return nil
}

// untrustedForwarding drops the X-Forwarded-* headers of a request from a
// peer the core does not trust, when the release honours them only from
// trusted ones.
func (s *Server) untrustedForwarding(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := s.config()
		if cfg.release.trustedForwardingOnly && !cfg.trustsPeer(r.RemoteAddr) {
			for _, h := range []string{"X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-For"} {
				r.Header.Del(h)
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (c *Config) trustsPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
