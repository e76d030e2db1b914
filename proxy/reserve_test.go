package proxy_test

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// reserved are the ports reserve has handed out in this test binary.
var (
	reservedMu sync.Mutex
	reserved   = map[int]bool{}
)

// reserve is a listener on a free port below the kernel's ephemeral
// range, for a test to close and give to a server it starts itself
// (nginx, Caddy). A port from listen (port 0) could be handed by the
// kernel to another test's listener or outgoing connection between the
// close and the server's bind, and the test would then talk to that one;
// no port-0 listener and no outgoing connection gets a port below the
// range, and this binary never hands one out twice.
func reserve(t *testing.T) net.Listener {
	t.Helper()
	lo, hi := reservableRange()
	reservedMu.Lock()
	defer reservedMu.Unlock()
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		if reserved[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		reserved[port] = true
		return ln
	}
	t.Fatal("no free port below the ephemeral range to reserve")
	return nil
}

// reservableRange is the 10,000 ports (or fewer, above 1024) below the
// ephemeral range the kernel says it uses.
func reservableRange() (lo, hi int) {
	hi = 32768 // Linux's default lower end
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				hi = n
			}
		}
	}
	return max(1025, hi-10000), hi
}
