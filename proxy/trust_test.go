package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-dev/outpost/outpostapi"
)

var testTrust = trust{cidrs: []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fd00::/8"),
}}

func TestResolveOrigin(t *testing.T) {
	spoof := map[string]string{
		"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "admin.example.com",
		"X-Forwarded-Uri": "/admin", "Forwarded": "for=127.0.0.1;host=admin.example.com", "X-Real-Ip": "127.0.0.1",
		"X-Original-Url": "https://admin.example.com/", "X-Original-Uri": "/admin", "X-Forwarded-Method": "GET",
		"X-Forwarded-Port": "443",
	}
	cases := []struct {
		name    string
		peer    string
		headers map[string]string
		raw     map[string]string // written without canonicalising the name
		want    origin
		kept    bool // forwarding headers left in place
	}{
		{"untrusted peer: everything dropped", "203.0.113.5:4000", spoof, map[string]string{"x_forwarded_for": "127.0.0.1", "X-FORWARDED-HOST": "a"},
			origin{ClientIP: netip.MustParseAddr("203.0.113.5"), Scheme: "http", Host: "app.example.com"}, false},
		{"trusted peer", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "198.51.100.7, 10.0.0.2", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "prom.example.com"}, nil,
			origin{ClientIP: netip.MustParseAddr("198.51.100.7"), Scheme: "https", Host: "prom.example.com", Trusted: true}, true},
		{"client-supplied entry left of the real client is ignored", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "127.0.0.1, 198.51.100.7"}, nil,
			origin{ClientIP: netip.MustParseAddr("198.51.100.7"), Scheme: "http", Host: "app.example.com", Trusted: true}, true},
		{"garbage stops the walk at the last good hop", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": "198.51.100.7, a, 10.0.0.2"}, nil,
			origin{ClientIP: netip.MustParseAddr("10.0.0.2"), Scheme: "http", Host: "app.example.com", Trusted: true}, true},
		{"empty entries", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": " , ,"}, nil,
			origin{ClientIP: netip.MustParseAddr("10.1.2.3"), Scheme: "http", Host: "app.example.com", Trusted: true}, true},
		{"thousands of entries", "10.1.2.3:4000", map[string]string{"X-Forwarded-For": strings.Repeat("1.1.1.1, ", 5000) + "198.51.100.7"}, nil,
			origin{ClientIP: netip.MustParseAddr("198.51.100.7"), Scheme: "http", Host: "app.example.com", Trusted: true}, true},
		{"ipv6 with ports", "[::1]:4000", map[string]string{"X-Forwarded-For": "[2001:db8::1]:443, [fd00::2]:80"}, nil,
			origin{ClientIP: netip.MustParseAddr("2001:db8::1"), Scheme: "http", Host: "app.example.com", Trusted: true}, true},
		{"mapped ipv4 peer", "[::ffff:10.1.2.3]:4000", map[string]string{"X-Real-Ip": "198.51.100.9"}, nil,
			origin{ClientIP: netip.MustParseAddr("198.51.100.9"), Scheme: "http", Host: "app.example.com", Trusted: true}, true},
		{"bad host and proto from a trusted peer are not used", "10.1.2.3:4000", map[string]string{"X-Forwarded-Host": "evil.com/x y", "X-Forwarded-Proto": "javascript"}, nil,
			origin{ClientIP: netip.MustParseAddr("10.1.2.3"), Scheme: "http", Host: "app.example.com", Trusted: true}, true},
		{"nearest proxy's host wins", "10.1.2.3:4000", map[string]string{"X-Forwarded-Host": "spoofed.example.com, prom.example.com"}, nil,
			origin{ClientIP: netip.MustParseAddr("10.1.2.3"), Scheme: "http", Host: "prom.example.com", Trusted: true}, true},
		{"unparsable peer counts as untrusted", "garbage", spoof, nil,
			origin{Scheme: "http", Host: "app.example.com"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://app.example.com/x", nil)
			r.RemoteAddr = tc.peer
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			for k, v := range tc.raw {
				r.Header[k] = []string{v}
			}
			got := testTrust.resolve(r)
			if got != tc.want {
				t.Errorf("origin = %+v, want %+v", got, tc.want)
			}
			left := 0
			for name := range r.Header {
				if forwardingHeaders[strings.ReplaceAll(strings.ToLower(name), "_", "-")] {
					left++
				}
			}
			if tc.kept != (left > 0) {
				t.Errorf("forwarding headers left: %d (kept=%v): %v", left, tc.kept, r.Header)
			}
		})
	}
}

func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "a, 10.0.0.1", "[::1]:80, 10.0.0.2", " , ", "1.2.3.4:99999", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, xff string) {
		ip, ok := testTrust.clientFromForwardedFor([]string{xff})
		if ok && !ip.IsValid() {
			t.Fatal("ok with an invalid address")
		}
		// The answer depends only on the right-most entries: whatever a
		// client puts in front of them cannot move it.
		ip2, ok2 := testTrust.clientFromForwardedFor([]string{"127.0.0.1, " + xff})
		if ok && !testTrust.contains(ip) && (ip2 != ip || !ok2) {
			t.Fatalf("prefix moved the client: %v → %v", ip, ip2)
		}
	})
}

// splitForwardedFor is clientFromForwardedFor as it was before it walked the
// header in place: split every value, keep the right-most entries, parse
// each hop trying host:port first. The in-place walk must agree with it.
func splitForwardedFor(t trust, values []string) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	if len(hops) > maxForwardedHops {
		hops = hops[len(hops)-maxForwardedHops:]
	}
	parse := func(s string) (netip.Addr, bool) {
		s = strings.TrimSpace(s)
		if s == "" || len(s) > 64 {
			return netip.Addr{}, false
		}
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return ap.Addr().Unmap(), true
		}
		if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
			return ip.Unmap(), true
		}
		return netip.Addr{}, false
	}
	var client netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parse(hops[i])
		if !ok {
			break
		}
		client = ip
		if !t.contains(ip) {
			break
		}
	}
	return client, client.IsValid()
}

// Header values are separated by newlines in the input.
func FuzzForwardedForInPlace(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "a, 10.0.0.1", "[::1]:80, 10.0.0.2", " , ", "1.2.3.4:99999", "fe80::1%eth0",
		"::1:80", "[1.2.3.4]:80", "10.0.0.1\n10.0.0.2, 198.51.100.7", "::ffff:10.0.0.1, [fd00::1%x]:1",
		strings.Repeat("10.0.0.1,", 40) + "10.0.0.2\n10.0.0.3",
		// The 32-entry bound, from both sides, across values.
		"198.51.100.9, 198.51.100.8, " + strings.Repeat("10.0.0.1, ", 30) + "10.0.0.2",
		"198.51.100.9, " + strings.Repeat("10.0.0.1, ", 20) + "10.0.0.1\n" + strings.Repeat("10.0.0.1, ", 10) + "10.0.0.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		values := strings.Split(in, "\n")
		ip, ok := testTrust.clientFromForwardedFor(values)
		want, wantOK := splitForwardedFor(testTrust, values)
		if ip != want || ok != wantOK {
			t.Fatalf("%q: %v %v, split and parsed: %v %v", values, ip, ok, want, wantOK)
		}
	})
}

// Every request from a trusted proxy reads X-Forwarded-For.
func TestForwardedForAllocations(t *testing.T) {
	values := []string{"198.51.100.7, 10.0.0.2", "[fd00::1]:443"}
	if n := testing.AllocsPerRun(100, func() { testTrust.clientFromForwardedFor(values) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// What routing and the upstream see, from an untrusted and from a trusted peer.
func TestForwardedHeadersEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var seen *http.Request
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(r.Context())
		mu.Unlock()
	}))
	defer up.Close()
	mk := func(name, external string) outpostapi.Provider {
		p, err := outpostapi.ValidateProvider(outpostapi.ProxyOutpostConfig{
			Name: name, Mode: outpostapi.ModeProxy, ExternalHost: external, InternalHost: up.URL,
			ClientID: name, ClientSecret: "client-secret-0123456789abcdef0123456789", CookieSecret: "0123456789abcdef",
			SkipPathRegex: "^/public/",
			OIDCConfiguration: outpostapi.OpenIDConnectConfiguration{AuthorizationEndpoint: "http://core/a", TokenEndpoint: "http://core/t",
				IDTokenSigningAlgValuesSupported: []string{"HS256"}},
		}, "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	snap := &outpostapi.Snapshot{Providers: []outpostapi.Provider{mk("app", "https://app.example.com"), mk("admin", "https://admin.example.com")}}

	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprintf("trusted=%t", trusted), func(t *testing.T) {
			var cidrs []netip.Prefix
			if trusted {
				cidrs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
			s := New(Options{Log: discard(), TrustedProxies: cidrs})
			s.Update(snap)
			front := httptest.NewServer(s)
			req, _ := http.NewRequest("GET", front.URL+"/public/x", nil)
			req.Host = "app.example.com"
			req.Header.Set("X-Forwarded-Host", "admin.example.com")
			req.Header.Set("X-Forwarded-For", "198.51.100.7")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header["X_Real_IP"] = []string{"1.1.1.1"}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			front.Close()
			mu.Lock()
			r := seen
			mu.Unlock()
			if resp.StatusCode != 200 || r == nil {
				t.Fatalf("trusted=%v: %d", trusted, resp.StatusCode)
			}
			wantXFF, wantHost, wantProto := "127.0.0.1", "app.example.com", "http"
			if trusted {
				wantXFF, wantHost, wantProto = "198.51.100.7, 127.0.0.1", "admin.example.com", "https"
			}
			if got := r.Header.Get("X-Forwarded-For"); got != wantXFF {
				t.Errorf("trusted=%v: upstream X-Forwarded-For %q, want %q", trusted, got, wantXFF)
			}
			if got := r.Header.Get("X-Forwarded-Host"); got != wantHost {
				t.Errorf("trusted=%v: upstream X-Forwarded-Host %q (routed to the wrong app?), want %q", trusted, got, wantHost)
			}
			if got := r.Header.Get("X-Forwarded-Proto"); got != wantProto {
				t.Errorf("trusted=%v: upstream X-Forwarded-Proto %q, want %q", trusted, got, wantProto)
			}
			if _, ok := r.Header["X_Real_IP"]; ok {
				t.Errorf("trusted=%v: underscore forwarding header reached the upstream", trusted)
			}
		})
	}
}

func TestProxyProtocolOnlyFromTrustedPeers(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		t.Run(fmt.Sprintf("trusted=%t", trusted), func(t *testing.T) {
			cidrs := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
			if trusted {
				cidrs = append(cidrs, netip.MustParsePrefix("127.0.0.0/8"))
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			remote := make(chan string, 1)
			srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { remote <- r.RemoteAddr }))
			go func() { _ = srv.Serve(ProxyProtocolListener(ln, cidrs)) }()

			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprint(conn, "PROXY TCP4 198.51.100.7 10.0.0.1 40000 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			conn.Close()
			if trusted {
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("trusted PROXY header: %v %v", resp, err)
				}
				if got := <-remote; !strings.HasPrefix(got, "198.51.100.7:") {
					t.Errorf("trusted PROXY header: remote %q", got)
				}
			} else {
				if err == nil && resp.StatusCode == 200 {
					t.Errorf("an untrusted peer's PROXY header was accepted (remote %q)", <-remote)
				}
				select {
				case got := <-remote:
					t.Errorf("request served with remote %q", got)
				default:
				}
			}
			_ = srv.Close()
		})
	}
}
