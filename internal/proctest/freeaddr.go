package proctest

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Ports handed out for another process to bind come from below the
// kernel's ephemeral range (Linux: 32768-60999), so no outgoing connection
// of any process on the machine takes one between the test choosing it
// and the child binding it. Asking the kernel for port 0 and closing, as
// tests used to, picks from that very range: under load an outgoing
// connection sometimes got the port first ("bind: address already in
// use").
const (
	firstPort = 20000
	lastPort  = 32767
)

var (
	givenMu sync.Mutex
	given   = map[int]bool{} // never handed out twice by one test binary
)

// FreePort is a TCP port on 127.0.0.1 that nothing listens on now, for a
// child process to bind.
func FreePort(t testing.TB) int {
	t.Helper()
	givenMu.Lock()
	defer givenMu.Unlock()
	for range 1000 {
		port := firstPort + rand.IntN(lastPort-firstPort+1)
		if given[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // someone else has it
		}
		_ = ln.Close()
		given[port] = true
		return port
	}
	t.Fatalf("no free port between %d and %d", firstPort, lastPort)
	return 0
}

// FreeAddr is FreePort as host:port.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
