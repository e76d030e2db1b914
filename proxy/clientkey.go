package proxy

import "net/netip"

// clientKey is the key a per-client limit counts a client IP under: the
// address itself for IPv4, its /64 for IPv6. One IPv6 host is routinely
// given a whole /64 (SLAAC, privacy addresses, a home or cloud prefix) and
// can pick a fresh address per request, so counting addresses would give
// it 2^64 budgets.
func clientKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is4() || !ip.IsValid() {
		return ip
	}
	p, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.Addr()
}
