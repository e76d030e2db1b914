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
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
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
	store := session.NewMemoryStore(session.MemoryOptions{})
	b.Cleanup(func() { _ = store.Close() })
	// The access log is formatted as in production (JSON), then dropped.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := New(Options{Log: log, Store: store, Metrics: metrics.NewProxy(), Version: "bench",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix(nginxPeer + "/32")}})
	if failed := srv.Update(snap); len(failed) > 0 {
		b.Fatalf("providers failed: %v", failed)
	}
	app := srv.current.Load().router.route("app.example.com")
	s := benchSession(app.provider)
	if err := store.Save(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	ck, err := app.sessionCookies.Cookie(s.ID, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return &forwardBenchEnv{srv: srv, cookie: "_ga=GA1.1.123; " + ck.Name + "=" + ck.Value + "; theme=dark"}
}

// nginxAuthRequest is the auth subrequest as nginx sends it with the shipped
// deploy/nginx snippets, for a browser's page load.
func (e *forwardBenchEnv) nginxAuthRequest() string {
	return "GET " + pathAuthNginx + " HTTP/1.1\r\n" +
		"Host: app.example.com\r\n" +
		"X-Original-URL: http://app.example.com/api/v1/query?query=up\r\n" +
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
	// Over a keep-alive connection from nginx's address to a real
	// http.Server behind the PROXY protocol listener, as `outpost serve`
	// runs it; the floor answers 200 and nothing else.
	for _, c := range []struct {
		name string
		h    func(*forwardBenchEnv) http.Handler
	}{
		{"http_floor_200", func(*forwardBenchEnv) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		}},
		{"http_outpost", func(e *forwardBenchEnv) http.Handler { return e.srv }},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newForwardBenchEnv(b)
			conn := serveLoopback(b, c.h(e))
			req := []byte(e.nginxAuthRequest())
			br := bufio.NewReaderSize(conn, 8<<10)
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				if _, err := conn.Write(req); err != nil {
					b.Fatal(err)
				}
				if status := readResponseHead(b, br); !bytes.Equal(status, ok200) {
					b.Fatalf("%s", status)
				}
			}
			// On a shared machine the round trip's wall time is mostly
			// waiting for a CPU; the CPU both ends spent is steadier.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// serveLoopback serves h as `outpost serve` does and returns a connection
// to it from nginxPeer.
func serveLoopback(b *testing.B, h http.Handler) net.Conn {
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
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(nginxPeer)}}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

// processCPU is the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var ok200 = []byte("HTTP/1.1 200 OK")

// readResponseHead reads one bodiless response and returns its status code
// line; it parses no headers, so the client's cost is the same for both
// sides.
func readResponseHead(b *testing.B, br *bufio.Reader) []byte {
	var status []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if status == nil {
			status = append([]byte(nil), bytes.TrimRight(line, "\r\n")...)
		}
		if len(line) <= 2 {
			return status
		}
		if bytes.HasPrefix(line, []byte("Content-Length: ")) && string(bytes.TrimSpace(line[16:])) != "0" {
			b.Fatalf("a body: %s", line)
		}
	}
}
