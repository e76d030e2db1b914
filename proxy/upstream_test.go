package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/outpost-dev/outpost/metrics"
)

// frontOf serves u on a real listener with the outpost's own server
// settings, sending every request to target.
func frontOf(t *testing.T, u *upstreamProxy, target upstreamTarget) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The recorder the server puts around every response is in the path,
	// so flushing and hijacking are tested through it.
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.serve(&responseRecorder{ResponseWriter: w}, r, target)
	}))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUpstreamRequestShape(t *testing.T) {
	seen := make(chan *http.Request, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Clone(r.Context())
		w.Header().Set("X-Powered-By", "app")
		_, _ = io.WriteString(w, "hello")
	}))
	defer up.Close()
	u := newUpstreamProxy(discard(), newTransports(), upstreamSettings{verifyTLS: true}, metrics.NewProxy().Host("test", "test"))
	// internal_host's path is ignored: only scheme and host are used.
	front := frontOf(t, u, upstreamTarget{URL: mustURL(t, up.URL+"/ignored/prefix")})

	req, _ := http.NewRequest("GET", front+"/api/v1/query?query=up&x=%2F", nil)
	req.Host = "prom.example.com"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Connection", "keep-alive, X-Hop")
	req.Header.Set("X-Hop", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" || resp.Header.Get("X-Powered-By") != "goauthentik.io" {
		t.Errorf("response: %q powered-by %q", body, resp.Header.Get("X-Powered-By"))
	}
	r := <-seen
	if r.Host != "prom.example.com" {
		t.Errorf("upstream Host = %q, want the client's", r.Host)
	}
	if r.URL.RequestURI() != "/api/v1/query?query=up&x=%2F" {
		t.Errorf("upstream URI = %q", r.URL.RequestURI())
	}
	if got := r.Header.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if got := r.Header.Get("X-Forwarded-Host"); got != "prom.example.com" {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
	if r.Header.Get("X-Hop") != "" {
		t.Error("hop-by-hop header named in Connection reached the upstream")
	}

	front = frontOf(t, u, upstreamTarget{URL: mustURL(t, up.URL), HostHeader: "internal.svc"})
	resp, err = http.Get(front + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := <-seen; r.Host != "internal.svc" {
		t.Errorf("host_header not applied: %q", r.Host)
	}
}

func TestUpstreamWebsocket(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			_ = c.WriteMessage(mt, append([]byte("echo: "), msg...))
		}
	}))
	defer up.Close()
	// The application let the websocket upgrade through (Upgrade).
	front := frontOf(t, newUpstreamProxy(discard(), newTransports(), upstreamSettings{verifyTLS: true}, metrics.NewProxy().Host("test", "test")), upstreamTarget{URL: mustURL(t, up.URL), Upgrade: "websocket"})
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(front, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		if err := c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint("ping ", i))); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil || string(msg) != fmt.Sprint("echo: ping ", i) {
			t.Fatalf("message %d: %q %v", i, msg, err)
		}
	}
}

// An SSE stream arrives event by event, and a stream that lasts longer
// than the listener's header and idle timeouts is not cut.
func TestUpstreamStreaming(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, "data: first\n\n")
		fl.Flush()
		<-release
		for i := range 7 {
			fmt.Fprintf(w, "data: tick %d\n\n", i)
			fl.Flush()
			time.Sleep(time.Second)
		}
		fmt.Fprint(w, "data: last\n\n")
	}))
	defer up.Close()
	front := frontOf(t, newUpstreamProxy(discard(), newTransports(), upstreamSettings{verifyTLS: true}, metrics.NewProxy().Host("test", "test")), upstreamTarget{URL: mustURL(t, up.URL)})
	resp, err := http.Get(front + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	first := make(chan string, 1)
	go func() { l, _ := rd.ReadString('\n'); first <- l }()
	select {
	case l := <-first:
		if l != "data: first\n" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first event held back: the proxy buffers")
	}
	close(release)
	rest, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("stream cut: %v", err)
	}
	if !strings.HasSuffix(string(rest), "data: last\n\n") || !strings.Contains(string(rest), "tick 6") {
		t.Fatalf("stream incomplete: %q", rest)
	}
}

// A stream without a Content-Length that is not SSE (a chunked log tail,
// a long poll) arrives as it is written too: ReverseProxy flushes bodies of
// unknown length on every write, whatever FlushInterval says.
func TestUpstreamChunkedStreamLive(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "last\n")
	}))
	defer up.Close()
	defer close(release)
	front := frontOf(t, newUpstreamProxy(discard(), newTransports(), upstreamSettings{verifyTLS: true}, metrics.NewProxy().Host("test", "test")), upstreamTarget{URL: mustURL(t, up.URL)})
	resp, err := http.Get(front + "/tail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 {
		t.Fatalf("Content-Length %d: not a stream", resp.ContentLength)
	}
	first := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(resp.Body).ReadString('\n'); first <- l }()
	select {
	case l := <-first:
		if l != "first\n" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first line held back: the proxy buffers a stream of unknown length")
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	u := newUpstreamProxy(discard(), newTransports(), upstreamSettings{verifyTLS: true}, metrics.NewProxy().Host("test", "test"))
	for _, su := range []bool{false, true} {
		front := frontOf(t, u, upstreamTarget{URL: mustURL(t, dead), Superuser: su})
		resp, err := http.Get(front + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("status %d", resp.StatusCode)
		}
		leaks := strings.Contains(string(body), ln.Addr().String())
		if su != leaks {
			t.Errorf("superuser=%v: error text shown=%v: %s", su, leaks, body)
		}
		if !su && !strings.Contains(string(body), "Failed to connect to backend.") {
			t.Errorf("page: %s", body)
		}
	}
}

// Each way an upstream can fail is a 502 for the person and counted under
// its kind, for the operator.
func TestUpstreamErrorKinds(t *testing.T) {
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	hangUp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hangUp.Close()
	go func() {
		for {
			c, err := hangUp.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf) // read the request, answer nothing
			c.Close()
		}
	}()
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	selfSigned := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer selfSigned.Close()

	cases := map[string]string{
		"http://" + closed:                                    "refused",
		"http://" + hangUp.Addr().String():                    "reset",
		"https://" + strings.TrimPrefix(plain.URL, "http://"): "tls",
		selfSigned.URL:                                        "tls",
		"http://no-such-host.invalid:80":                      "dns",
	}
	m := metrics.New("u", "v", "")
	for target, kind := range cases {
		front := frontOf(t, newUpstreamProxy(discard(), newTransports(), upstreamSettings{verifyTLS: true}, m.Proxy.Host("edge", "app.example.com")), upstreamTarget{URL: mustURL(t, target)})
		resp, err := http.Get(front + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s: %d, want 502", target, resp.StatusCode)
		}
		rec := httptest.NewRecorder()
		m.Handler(nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		series := `outpost_upstream_errors_total{host="app.example.com",kind="` + kind + `"}`
		if !strings.Contains(rec.Body.String(), series+" ") {
			t.Errorf("%s: no %s in\n%s", target, series, rec.Body.String())
		}
	}
}

// A copy buffer goes back to the pool and comes out again without an
// allocation, and a buffer of another size is not kept.
func TestCopyBuffersReuseWithoutAllocating(t *testing.T) {
	p := &bufferPool{}
	p.Put(p.Get())
	if n := testing.AllocsPerRun(100, func() { p.Put(p.Get()) }); n != 0 {
		t.Errorf("%v allocations per Get and Put", n)
	}
	p.Put(make([]byte, 10, 64))
	if got := p.Get(); len(got) != copyBufferSize {
		t.Errorf("Get returned %d bytes, want %d", len(got), copyBufferSize)
	}
}
