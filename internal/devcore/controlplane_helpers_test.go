package devcore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"
)

const (
	pkA    = "aaaaaaaa-1111-4111-8111-111111111111"
	pkB    = "bbbbbbbb-2222-4222-8222-222222222222"
	tokenA = "token-a-0123456789"
	tokenB = "token-b-0123456789"
)

// testHash is a real bcrypt hash (minimum cost, to keep tests fast).
var testHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// baseYAML has two outposts: A with two providers (one with a certificate),
// B with one provider and its own certificate.
var baseYAML = `
outposts:
  - pk: ` + pkA + `
    name: outpost-a
    token: ` + tokenA + `
    providers: [prometheus, grafana]
  - pk: ` + pkB + `
    name: outpost-b
    token: ` + tokenB + `
    refresh_interval_s: 60
    config:
      log_level: debug
      authentik_host: https://auth.example.com
    providers: [secret-app]
providers:
  - name: prometheus
    external_host: https://prometheus.example.com
    internal_host: http://127.0.0.1:9090
    client_id: prom-client
    client_secret: prom-secret-0123456789abcdef0123456789
    cookie_secret: prom-cookie-secret-0123456789
  - name: grafana
    mode: forward_single
    external_host: https://grafana.example.com
    client_id: grafana-client
    client_secret: grafana-secret-0123456789abcdef0123456789
    cookie_secret: grafana-cookie-secret-0123456
    certificate: grafana-tls
    application_slug: grafana-app
    application_name: Grafana
  - name: secret-app
    external_host: https://secret.example.com
    internal_host: http://127.0.0.1:8080
    client_id: secret-client
    client_secret: secret-secret-0123456789abcdef0123456789
    cookie_secret: secret-cookie-secret-01234567
    certificate: b-tls
certificates:
  - name: grafana-tls
  - name: b-tls
    hosts: [secret.example.com, 10.0.0.1]
groups:
  - name: ops
users:
  - username: alice
    password_hash: "` + testHash + `"
    groups: [ops]
`

func mustParse(t testing.TB, y string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(y))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	return c
}

// testLogger sends the server's logs to the test log until the test ends.
func testLogger(t *testing.T) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// testCore is a devcore serving on a real 127.0.0.1 listener.
type testCore struct {
	*Server
	addr string
	done chan error
}

func (c *testCore) url(path string) string { return "http://" + c.addr + path }

func startCoreAt(t *testing.T, cfg *Config, addr string) *testCore {
	t.Helper()
	s, err := New(cfg, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return serveCoreAt(t, s, addr)
}

func startCore(t *testing.T, cfg *Config) *testCore { return startCoreAt(t, cfg, "127.0.0.1:0") }

// serveCore serves s on a free 127.0.0.1 port until the test ends.
func serveCore(t *testing.T, s *Server) *testCore { return serveCoreAt(t, s, "127.0.0.1:0") }

func serveCoreAt(t *testing.T, s *Server, addr string) *testCore {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCore{Server: s, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { tc.done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-tc.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return tc
}

// get does a request with an optional bearer token and returns the status
// and the raw body.
func do(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// getJSON GETs url and decodes the body into a generic value, failing the
// test unless the status is want.
func getJSON(t *testing.T, url, token string, want int) map[string]any {
	t.Helper()
	code, b := do(t, http.MethodGet, url, token, "")
	if code != want {
		t.Fatalf("GET %s: %d, want %d: %s", url, code, want, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: body is not a JSON object: %v: %s", url, err, b)
	}
	return m
}

// requireKeys fails unless every key is present in m (null counts as
// present: required does not mean non-null).
func requireKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks required property %q: %v", what, k, m)
		}
	}
}

// dialWS opens the outpost websocket as an outpost would.
func dialWS(t *testing.T, addr, pk, token, query string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	h.Set("User-Agent", "goauthentik.io/outpost/test")
	u := "ws://" + addr + "/ws/outpost/" + pk + "/"
	if query != "" {
		u += "?" + query
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(u, h)
	if err == nil {
		t.Cleanup(func() { _ = ws.Close() })
	}
	return ws, resp, err
}

// testWS is an outpost's end of the websocket. A goroutine reads it, so
// that waiting for "no frame" does not break the connection (a gorilla read
// that timed out cannot be resumed).
type testWS struct {
	*websocket.Conn
	events chan wsEvent
}

type wsEvent struct {
	typ  int
	data []byte
	err  error
}

func newTestWS(ws *websocket.Conn) *testWS {
	w := &testWS{Conn: ws, events: make(chan wsEvent, 256)}
	go func() {
		for {
			typ, b, err := ws.ReadMessage()
			w.events <- wsEvent{typ, b, err}
			if err != nil {
				return
			}
		}
	}()
	return w
}

func mustDialWS(t *testing.T, addr, pk, token, instance string) *testWS {
	t.Helper()
	ws, _, err := dialWS(t, addr, pk, token, "instance_uuid="+instance)
	if err != nil {
		t.Fatalf("dial websocket: %v", err)
	}
	return newTestWS(ws)
}

// readFrame waits up to d for one text frame.
func readFrame(t *testing.T, ws *testWS, d time.Duration) string {
	t.Helper()
	select {
	case ev := <-ws.events:
		if ev.err != nil {
			t.Fatalf("reading websocket: %v", ev.err)
		}
		if ev.typ != websocket.TextMessage {
			t.Fatalf("frame type %d, want text", ev.typ)
		}
		return string(ev.data)
	case <-time.After(d):
		t.Fatalf("no frame within %v", d)
		return ""
	}
}

// expectNoFrame fails if a frame arrives within d.
func expectNoFrame(t *testing.T, ws *testWS, d time.Duration) {
	t.Helper()
	select {
	case ev := <-ws.events:
		t.Fatalf("unexpected frame %s (error %v)", ev.data, ev.err)
	case <-time.After(d):
	}
}

// expectClose reads until the connection ends and checks the close code
// the server sent.
func expectClose(t *testing.T, ws *testWS, code int) *websocket.CloseError {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ws.events:
			if ev.err == nil {
				t.Logf("frame before close: %s", ev.data)
				continue
			}
			var ce *websocket.CloseError
			if !errors.As(ev.err, &ce) {
				t.Fatalf("connection ended without a close frame: %v", ev.err)
			}
			if ce.Code != code {
				t.Fatalf("close code %d (%q), want %d", ce.Code, ce.Text, code)
			}
			return ce
		case <-timeout:
			t.Fatal("connection not closed")
			return nil
		}
	}
}

const helloFrame = `{"instruction":1,"args":{"version":"2026.2.2","buildHash":"abc123","uuid":"%s","golangVersion":"go1.26.8","opensslEnabled":false,"opensslVersion":"","fipsEnabled":false,"hostname":"host-1","extra":{"n":12345678901234567890}}}`

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
