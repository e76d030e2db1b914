package redistest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Relay is a TCP relay on 127.0.0.1 in front of a server, so a test can cut
// one client's link to Redis (as a network partition would) while other
// clients keep theirs, or stall the connections it has (as a dead NAT
// mapping would), and restore it.
type Relay struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
	frozen map[*atomic.Bool]struct{}
	wg     sync.WaitGroup
}

// NewRelay relays to target (host:port) until the test ends.
func NewRelay(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{ln: ln, target: target, conns: map[net.Conn]struct{}{}, frozen: map[*atomic.Bool]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

// Addr is where clients connect instead of the server.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Cut closes every relayed connection and refuses new ones (they are
// accepted and closed at once) until Restore.
func (r *Relay) Cut() {
	r.mu.Lock()
	r.cut = true
	conns := r.conns
	r.conns = map[net.Conn]struct{}{}
	r.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// Freeze stops moving bytes on the connections open now, without closing
// them; new connections are relayed as usual.
func (r *Relay) Freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for f := range r.frozen {
		f.Store(true)
	}
}

// Restore relays new connections again and thaws frozen ones.
func (r *Relay) Restore() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = false
	for f := range r.frozen {
		f.Store(false)
	}
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		cut := r.cut
		r.mu.Unlock()
		if cut {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.mu.Lock()
		if r.cut {
			r.mu.Unlock()
			_ = c.Close()
			_ = up.Close()
			continue
		}
		r.conns[c] = struct{}{}
		r.conns[up] = struct{}{}
		frozen := new(atomic.Bool)
		r.frozen[frozen] = struct{}{}
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pipe(c, up, frozen)
		go r.pipe(up, c, frozen)
	}
}

// pipe copies one direction, holding what it read while frozen; when it
// ends both sides are closed.
func (r *Relay) pipe(dst, src net.Conn, frozen *atomic.Bool) {
	defer r.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for n > 0 && frozen.Load() {
			time.Sleep(10 * time.Millisecond)
			if r.closed(src) {
				break
			}
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	r.mu.Lock()
	delete(r.conns, dst)
	delete(r.conns, src)
	delete(r.frozen, frozen)
	r.mu.Unlock()
}

// closed reports whether Cut (or the end of the test) took c away.
func (r *Relay) closed(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.conns[c]
	return !ok
}

func (r *Relay) close() {
	_ = r.ln.Close()
	r.Cut()
	r.wg.Wait()
}
