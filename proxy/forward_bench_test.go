package proxy

// Microbenchmarks of a forward-auth decision as nginx's auth_request asks
// for it (issue 10): the handler alone, and the whole exchange over a
// keep-alive loopback connection next to an endpoint that always answers
// 200 (the harness's floor). Run them with
//
//	go test -run '^$' -bench ForwardAuth -benchmem ./proxy

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
)

// nginxPeer is the trusted reverse proxy's address in these benchmarks.
const nginxPeer = "127.0.0.2"

type forwardBenchEnv struct {
	srv    *Server
	cookie string // the Cookie header the browser sent
}

// newForwardBenchEnv is one forward_single provider at app.example.com
// behind a trusted nginx, with a signed-in session in the memory store.
func newForwardBenchEnv(b *testing.B) *forwardBenchEnv {
	b.Helper()
	p := provider(b, "fwd", outpostapi.ModeForwardSingle, "http://app.example.com", "")
	snap := &outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "bench"}, Providers: []outpostapi.Provider{p}}
	e := newSignedInBenchEnv(b, snap, []netip.Prefix{netip.MustParsePrefix(nginxPeer + "/32")})
	ck := e.cookie
	return &forwardBenchEnv{srv: e.srv, cookie: "_ga=GA1.1.123; " + ck.Name + "=" + ck.Value + "; theme=dark"}
}

// nginxAuthRequest is the auth subrequest as nginx sends it with the shipped
// deploy/nginx snippets, for a browser's page load.
func (e *forwardBenchEnv) nginxAuthRequest() string {
	return "GET " + pathAuthNginx + " HTTP/1.1\r\n" +
		"Host: app.example.com:80\r\n" +
		"X-Forwarded-Host: app.example.com:80\r\n" +
		"X-Original-URL: http://app.example.com:80/api/v1/query?query=up\r\n" +
		"X-Original-Method: GET\r\n" +
		"X-Forwarded-Proto: http\r\n" +
		"X-Forwarded-For: 192.0.2.10\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\n" +
		"Accept-Language: en-GB,en;q=0.9\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n" +
		"Cookie: " + e.cookie + "\r\n" +
		"\r\n"
}

// resetWriter is a ResponseWriter that is reused across iterations, so the
// handler benchmark counts only the outpost's allocations.
type resetWriter struct {
	h    http.Header
	code int
}

func (w *resetWriter) Header() http.Header         { return w.h }
func (w *resetWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *resetWriter) WriteHeader(code int)        { w.code = code }

func BenchmarkForwardAuth(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		e := newForwardBenchEnv(b)
		base, err := http.ReadRequest(bufio.NewReader(bytes.NewBufferString(e.nginxAuthRequest())))
		if err != nil {
			b.Fatal(err)
		}
		base.RemoteAddr = nginxPeer + ":40000"
		w := &resetWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			clear(w.h)
			w.code = 0
			e.srv.ServeHTTP(w, base.Clone(base.Context()))
			if w.code != http.StatusOK || w.h.Get("X-Authentik-Username") != "alice" {
				b.Fatal(w.code, w.h)
			}
		}
	})
	// Over keep-alive connections from nginx's address to a real
	// http.Server behind the PROXY protocol listener, as `outpost serve`
	// runs it, 32 requests at a time per CPU as nginx sends them. The
	// floors answer 200 at once: bare, and with the headers the outpost
	// answers (what carrying the identity costs). Client and server share
	// the process, so compare the floors with the outpost, not with nginx.
	b.Run("http_floor_200", func(b *testing.B) {
		e := newForwardBenchEnv(b)
		benchHTTP(b, e, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	})
	b.Run("http_floor_200_identity", func(b *testing.B) {
		e := newForwardBenchEnv(b)
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(e.nginxAuthRequest())))
		if err != nil {
			b.Fatal(err)
		}
		r.RemoteAddr = nginxPeer + ":40000"
		w := &resetWriter{h: http.Header{}}
		e.srv.ServeHTTP(w, r)
		answer := w.h
		delete(answer, "X-Request-Id")
		benchHTTP(b, e, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			for k, v := range answer {
				h[k] = v
			}
			w.WriteHeader(http.StatusOK)
		}))
	})
	b.Run("http_outpost", func(b *testing.B) {
		e := newForwardBenchEnv(b)
		benchHTTP(b, e, e.srv)
	})
}

// benchHTTP sends nginx's auth request to h, served as `outpost serve`
// serves, over 32 keep-alive connections per CPU from nginx's address.
func benchHTTP(b *testing.B, e *forwardBenchEnv, h http.Handler) {
	addr := serveLoopback(b, h)
	req := []byte(e.nginxAuthRequest())
	b.SetParallelism(32)
	b.ReportAllocs()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(nginxPeer)}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReaderSize(conn, 8<<10)
		for pb.Next() {
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			if !readOK(b, br) {
				return
			}
		}
	})
	// On a shared machine wall time per request depends on who else wants
	// the CPUs; the CPU this process spent depends on it less.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// serveLoopback serves h as `outpost serve` does and returns its address.
func serveLoopback(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewHTTPServer(h)
	go func() {
		_ = srv.Serve(ProxyProtocolListener(ln, []netip.Prefix{netip.MustParsePrefix(nginxPeer + "/32")}))
	}()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var ok200 = []byte("HTTP/1.1 200 OK\r\n")

// readOK reads one bodiless response and reports whether it was a 200; it
// parses no headers, so the client costs the same against both servers.
func readOK(b *testing.B, br *bufio.Reader) bool {
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil || first && !bytes.Equal(line, ok200) {
			b.Errorf("%s %v", line, err)
			return false
		}
		if len(line) <= 2 {
			return true
		}
		if bytes.HasPrefix(line, []byte("Content-Length: ")) && string(bytes.TrimSpace(line[16:])) != "0" {
			b.Errorf("a body: %s", line)
			return false
		}
	}
}
