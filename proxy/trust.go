package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/pires/go-proxyproto"
)

// forwardingHeaders are the headers through which a proxy in front of the
// outpost describes the original request. They count only when the direct
// peer is a trusted proxy; from anyone else they are removed before anything
// reads them. Names are compared lower case with "_" read as "-", since some
// servers fold one into the other.
var forwardingHeaders = map[string]bool{
	"x-forwarded-for": true, "x-forwarded-proto": true, "x-forwarded-host": true,
	"x-forwarded-uri": true, "x-forwarded-method": true, "x-forwarded-port": true,
	"x-forwarded-prefix": true, "x-forwarded-server": true, "x-forwarded-ssl": true,
	"x-forwarded-scheme": true, "forwarded": true, "x-real-ip": true,
	"x-original-url": true, "x-original-uri": true, "x-original-method": true,
	"x-original-host": true, "x-client-ip": true, "true-client-ip": true,
}

// isForwardingHeader reports whether name, lower-cased with "_" read as
// "-", is one of forwardingHeaders. It folds into a stack buffer: the
// check runs on every header of every request from an untrusted peer.
func isForwardingHeader(name string) bool {
	var buf [32]byte
	if len(name) > len(buf) {
		return false // longer than any forwarding header
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '_':
			c = '-'
		}
		buf[i] = c
	}
	return forwardingHeaders[string(buf[:len(name)])]
}

// maxForwardedHops bounds how many X-Forwarded-For entries are examined: a
// header of thousands of entries costs no more than a short one.
const maxForwardedHops = 32

// trust decides whose forwarding headers count.
type trust struct {
	cidrs []netip.Prefix
}

func (t trust) contains(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range t.cidrs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// origin is what the outpost believes about the original request: who sent
// it, over which scheme, to which host. Routing, redirects, logs and forward
// auth use it instead of raw headers.
type origin struct {
	ClientIP netip.Addr
	Scheme   string
	Host     string
	// Trusted is true when the direct peer is a trusted proxy.
	Trusted bool
}

// originOf is the request's resolved origin (set by the server).
func originOf(r *http.Request) origin {
	if info := infoOf(r); info != nil {
		return info.origin
	}
	return origin{}
}

// resolve works out the origin of r. From an untrusted peer every
// forwarding header is deleted from r first, so nothing later can read one.
func (t trust) resolve(r *http.Request) origin {
	o := origin{Scheme: "http", Host: r.Host}
	if r.TLS != nil {
		o.Scheme = "https"
	}
	peer := remoteAddr(r)
	o.ClientIP = peer
	if !peer.IsValid() || !t.contains(peer) {
		for name := range r.Header {
			if isForwardingHeader(name) {
				delete(r.Header, name)
			}
		}
		o.Host = withoutDefaultPort(o.Host, o.Scheme)
		return o
	}
	o.Trusted = true
	if ip, ok := t.clientFromForwardedFor(r.Header.Values("X-Forwarded-For")); ok {
		o.ClientIP = ip
	} else if ip, ok := parseHop(r.Header.Get("X-Real-Ip")); ok {
		o.ClientIP = ip
	}
	if p := strings.ToLower(lastListValue(r.Header.Values("X-Forwarded-Proto"))); p == "http" || p == "https" {
		o.Scheme = p
	}
	if h := lastListValue(r.Header.Values("X-Forwarded-Host")); validHost(h) {
		o.Host = h
	}
	// app.example.com:443 over https is app.example.com: nginx's
	// $host:$server_port names hosts so.
	o.Host = withoutDefaultPort(o.Host, o.Scheme)
	return o
}

// clientFromForwardedFor walks X-Forwarded-For from the right, past the
// trusted proxies, to the first address that is not one: the client. An
// entry that is not an address ends the walk at the last good hop, so
// garbage neither crashes nor moves the decision. At most maxForwardedHops
// entries are read, right to left in place: every request from a trusted
// proxy comes this way.
func (t trust) clientFromForwardedFor(values []string) (netip.Addr, bool) {
	var client netip.Addr
	hops := 0
	for i := len(values) - 1; i >= 0; i-- {
		for rest, more := values[i], true; more; {
			if hops == maxForwardedHops {
				return client, client.IsValid()
			}
			hops++
			var hop string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, hop = rest[:j], rest[j+1:]
			} else {
				hop, more = rest, false
			}
			ip, ok := parseHop(hop)
			if !ok {
				return client, client.IsValid()
			}
			client = ip
			if !t.contains(ip) {
				return client, true
			}
		}
	}
	return client, client.IsValid()
}

// parseHop reads one forwarded address: "1.2.3.4", "1.2.3.4:5678",
// "2001:db8::1" or "[2001:db8::1]:443". The form picks the parser, so the
// usual bare address costs no failed parse (and no error value).
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	// With a port: bracketed IPv6, or exactly one colon (IPv4). Neither
	// form is an address without one.
	if s[0] == '[' || strings.Count(s, ":") == 1 {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().Unmap(), true
		}
		return netip.Addr{}, false
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
		return ip.Unmap(), true
	}
	return netip.Addr{}, false
}

// lastListValue is the right-most entry of a comma-separated header: the one
// the nearest (trusted) proxy added.
func lastListValue(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// validHost accepts a host[:port] made only of the characters a host name or
// address literal can hold.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

func remoteAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// ProxyProtocolListener accepts a PROXY protocol (v1 or v2) header only from
// trusted peers; from any other peer no header is read, so one sent anyway
// breaks that connection's request instead of spoofing its address.
//
// With no trusted peers ln is returned as it is: nobody may send a header,
// and a connection is then exactly what the wrapper would hand over.
func ProxyProtocolListener(ln net.Listener, trusted []netip.Prefix) net.Listener {
	if len(trusted) == 0 {
		return ln
	}
	t := trust{cidrs: trusted}
	return &proxyproto.Listener{
		Listener: ln,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if ap, err := netip.ParseAddrPort(o.Upstream.String()); err == nil && t.contains(ap.Addr()) {
				return proxyproto.USE, nil
			}
			return proxyproto.SKIP, nil
		},
	}
}
