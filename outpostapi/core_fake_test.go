package outpostapi

// A small stand-in core for this package's tests: a real HTTP server on
// 127.0.0.1 with a real gorilla websocket upgrader. It serves the REST
// endpoints of spec §3 and the control channel of §2, records what it sees
// on the wire, and can misbehave on request (reject the token, fail a path,
// hang a handshake, go silent after one) — the faults the devcore does not
// inject.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/outpost-dev/outpost/internal/proctest"
)

const (
	fakeToken     = "fake-core-token-0123456789"
	fakeOutpostPK = "23470845-7263-4fe3-bd79-ec1d7bf77d77"
)

type recordedRequest struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

type fakeCert struct {
	Fingerprint, Cert, Key string
}

// fakeWS is one websocket connection as the core sees it.
type fakeWS struct {
	conn   *websocket.Conn
	URL    *url.URL
	Header http.Header
	frames chan []byte // text frames from the outpost, in order
	wmu    sync.Mutex
	done   chan struct{} // closed when the core's reader stops
	// CloseCode is the close code the outpost sent, once done is closed.
	CloseCode int
}

func (c *fakeWS) send(t *testing.T, frame string) {
	t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Errorf("core: sending %s: %v", frame, err)
	}
}

// nextFrame waits for the next text frame the outpost sent.
func (c *fakeWS) nextFrame(t *testing.T, timeout time.Duration) []byte {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(timeout):
		t.Fatalf("core: no frame from the outpost within %v", timeout)
		return nil
	}
}

// nextOf waits for the next frame with the given instruction, skipping others.
func (c *fakeWS) nextOf(t *testing.T, instruction int, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f := c.nextFrame(t, time.Until(deadline))
		var m map[string]any
		if err := json.Unmarshal(f, &m); err != nil {
			t.Fatalf("core: frame %q is not JSON: %v", f, err)
		}
		if n, _ := m["instruction"].(float64); int(n) == instruction {
			return m
		}
	}
}

type fakeCore struct {
	t   *testing.T
	log *slog.Logger

	mu         sync.Mutex
	token      string
	outposts   []Outpost
	providers  []ProxyOutpostConfig
	certs      map[string]fakeCert
	failPath   map[string]int // path suffix → status to answer
	noACK      bool
	hangNext   int // upcoming websocket handshakes to hang
	silentNext int // upcoming websocket connections to leave silent
	requests   []recordedRequest
	wsConns    []*fakeWS
	hung       []net.Conn
	pagination func(page int, total int) Pagination // overrides the honest one
	// Shapes of a newer (or broken) core: rootConfig replaces the root
	// config's body; reshapeOutpost changes each outpost object as JSON
	// just before it is sent, and reshapeProvider gives what is sent in
	// place of each provider object (i counts providers from 0).
	rootConfig      map[string]any
	reshapeOutpost  func(m map[string]any)
	reshapeProvider func(i int, m map[string]any) any
	wsConnected     chan *fakeWS

	// Provider page faults, under mu: pageStatus answers a page with that
	// status instead (by page number); pageDelay holds a page back before
	// answering; pagesInFlight and maxPagesInFlight count pages being
	// answered.
	pageStatus                      map[int]int
	pageDelay                       func(page int) time.Duration
	pagesInFlight, maxPagesInFlight int

	srv  *http.Server
	ln   net.Listener
	Addr string
}

func newFakeCore(t *testing.T) *fakeCore {
	c := &fakeCore{
		t:     t,
		log:   slog.New(slog.DiscardHandler),
		token: fakeToken,
		outposts: []Outpost{{
			PK: fakeOutpostPK, Name: "fake-outpost", Type: "proxy", RefreshIntervalS: 300,
			Providers: []int{}, ProvidersObj: []ProviderRef{}, ServiceConnectionObj: json.RawMessage("null"),
			TokenIdentifier: "ak-outpost-" + fakeOutpostPK + "-api",
			Config:          map[string]any{"authentik_host": "https://auth.example.com", "log_level": "debug"},
		}},
		certs:       map[string]fakeCert{},
		failPath:    map[string]int{},
		wsConnected: make(chan *fakeWS, 64),
	}
	t.Cleanup(c.stop)
	return c
}

// start serves on addr ("127.0.0.1:0" for any port).
func (c *fakeCore) start(addr string) {
	c.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		c.t.Fatalf("core: listen %s: %v", addr, err)
	}
	c.mu.Lock()
	c.ln = ln
	c.Addr = ln.Addr().String()
	c.srv = &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	srv := c.srv
	c.mu.Unlock()
	go srv.Serve(ln)
}

// stop takes the core down: websockets are closed with 1012 (service
// restart, as a restarting authentik does), hung connections dropped.
func (c *fakeCore) stop() {
	c.mu.Lock()
	srv, conns, hung := c.srv, c.wsConns, c.hung
	c.srv, c.wsConns, c.hung = nil, nil, nil
	c.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Close()
	for _, ws := range conns {
		ws.wmu.Lock()
		ws.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseServiceRestart, ""), time.Now().Add(time.Second))
		ws.wmu.Unlock()
		ws.conn.Close()
	}
	for _, h := range hung {
		h.Close()
	}
}

func (c *fakeCore) url() string { return "http://" + c.Addr + "/" }

func (c *fakeCore) set(f func(c *fakeCore)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(c)
}

func (c *fakeCore) recorded() []recordedRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]recordedRequest(nil), c.requests...)
}

func (c *fakeCore) count(path string) int {
	n := 0
	for _, r := range c.recorded() {
		if r.Path == path {
			n++
		}
	}
	return n
}

// nextWS waits for the next accepted websocket connection.
func (c *fakeCore) nextWS(t *testing.T, timeout time.Duration) *fakeWS {
	t.Helper()
	select {
	case ws := <-c.wsConnected:
		return ws
	case <-time.After(timeout):
		t.Fatalf("core: no websocket connection within %v", timeout)
		return nil
	}
}

func (c *fakeCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.requests = append(c.requests, recordedRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	token := c.token
	var fail int
	for suffix, status := range c.failPath {
		if strings.HasSuffix(r.URL.Path, suffix) {
			fail = status
		}
	}
	c.mu.Unlock()

	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "bearer") || tok != token {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"detail":"Authentication credentials were not provided."}`)
		return
	}
	if fail != 0 {
		http.Error(w, `{"detail":"injected failure"}`, fail)
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/ws/outpost/"):
		c.serveWS(w, r)
	case p == "/api/v3/outposts/instances/":
		c.mu.Lock()
		out, reshape := c.outposts, c.reshapeOutpost
		c.mu.Unlock()
		items := make([]map[string]any, 0, len(out))
		for _, o := range out {
			m := asJSONObject(o)
			if reshape != nil {
				reshape(m)
			}
			items = append(items, m)
		}
		c.writeJSON(w, paginated(items, 1, len(out), Pagination{Current: 1, TotalPages: 1, Count: len(out)}))
	case p == "/api/v3/root/config/":
		c.mu.Lock()
		rc := c.rootConfig
		c.mu.Unlock()
		if rc == nil {
			rc = map[string]any{
				"error_reporting": map[string]any{"enabled": false, "sentry_dsn": "", "environment": "", "send_pii": false, "traces_sample_rate": 0.0},
				"capabilities":    []string{}, "cache_timeout": 300, "cache_timeout_flows": 300, "cache_timeout_policies": 300,
			}
		}
		c.writeJSON(w, rc)
	case p == "/api/v3/outposts/proxy/":
		c.serveProviders(w, r)
	case p == "/api/v3/events/events/":
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	case strings.HasPrefix(p, "/api/v3/crypto/certificatekeypairs/"):
		rest := strings.TrimPrefix(p, "/api/v3/crypto/certificatekeypairs/")
		id, what, _ := strings.Cut(rest, "/")
		c.mu.Lock()
		cert, ok := c.certs[id]
		c.mu.Unlock()
		if !ok {
			http.Error(w, `{"detail":"Not found."}`, http.StatusNotFound)
			return
		}
		switch what {
		case "":
			c.writeJSON(w, map[string]any{"pk": id, "name": "cert", "fingerprint_sha256": cert.Fingerprint, "fingerprint_sha1": "x", "private_key_available": cert.Key != ""})
		case "view_certificate/":
			c.writeJSON(w, map[string]any{"data": cert.Cert})
		case "view_private_key/":
			c.writeJSON(w, map[string]any{"data": cert.Key})
		default:
			http.NotFound(w, r)
		}
	default:
		http.Error(w, `{"detail":"Not found."}`, http.StatusNotFound)
	}
}

func paginated[T any](results []T, _ int, _ int, p Pagination) map[string]any {
	if results == nil {
		results = []T{}
	}
	return map[string]any{"pagination": p, "results": results, "autocomplete": map[string]any{}, "x-unknown-extra": true}
}

func (c *fakeCore) writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		c.t.Errorf("core: encoding response: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// A write error is a client that went away (the outpost stopping as
	// its test ends), not a fault of the core; reporting it from a handler
	// after the test had finished panicked the whole package.
	_, _ = w.Write(append(body, '\n'))
}

func (c *fakeCore) serveProviders(w http.ResponseWriter, r *http.Request) {
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	size, err := strconv.Atoi(r.URL.Query().Get("page_size"))
	if err != nil || size < 1 {
		size = 20
	}
	c.mu.Lock()
	all, override, status, delay, reshape := c.providers, c.pagination, c.pageStatus[page], c.pageDelay, c.reshapeProvider
	c.pagesInFlight++
	c.maxPagesInFlight = max(c.maxPagesInFlight, c.pagesInFlight)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.pagesInFlight--
		c.mu.Unlock()
	}()
	if delay != nil {
		select {
		case <-time.After(delay(page)):
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		http.Error(w, fmt.Sprintf(`{"detail":"injected failure of page %d"}`, page), status)
		return
	}
	total := (len(all) + size - 1) / size
	if total == 0 {
		total = 1
	}
	start := min((page-1)*size, len(all))
	end := min(start+size, len(all))
	pg := Pagination{Current: page, TotalPages: total, Count: len(all), StartIndex: start + 1, EndIndex: end}
	if page < total {
		pg.Next = page + 1
	}
	if page > 1 {
		pg.Previous = page - 1
	}
	if override != nil {
		pg = override(page, total)
	}
	// Marshal through a generic map so unknown fields reach the client too.
	items := make([]any, 0, end-start)
	for i, p := range all[start:end] {
		m := asJSONObject(p)
		m["some_future_field"] = map[string]any{"nested": []int{1, 2}}
		var item any = m
		if reshape != nil {
			item = reshape(start+i, m)
		}
		items = append(items, item)
	}
	c.writeJSON(w, paginated(items, page, total, pg))
}

// asJSONObject is v as the generic JSON object a core would send.
func asJSONObject(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

var fakeUpgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (c *fakeCore) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ws/outpost/"+fakeOutpostPK+"/" {
		http.NotFound(w, r)
		return
	}
	c.mu.Lock()
	hang := c.hangNext > 0
	if hang {
		c.hangNext--
	}
	silent := c.silentNext > 0
	if silent {
		c.silentNext--
	}
	noACK := c.noACK
	c.mu.Unlock()
	if hang {
		// Accept the TCP connection and the request, then never answer.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			c.t.Errorf("core: hijack: %v", err)
			return
		}
		c.mu.Lock()
		c.hung = append(c.hung, conn)
		c.mu.Unlock()
		return
	}
	conn, err := fakeUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	ws := &fakeWS{conn: conn, URL: r.URL, Header: r.Header.Clone(), frames: make(chan []byte, 1024), done: make(chan struct{})}
	c.mu.Lock()
	if c.srv == nil { // stopped meanwhile
		c.mu.Unlock()
		conn.Close()
		return
	}
	c.wsConns = append(c.wsConns, ws)
	c.mu.Unlock()
	c.wsConnected <- ws
	if silent {
		// Completes the handshake, then neither reads nor writes: to the
		// outpost it looks like a half-open connection.
		go func() {
			defer close(ws.done)
			<-time.After(5 * time.Minute)
		}()
		return
	}
	go func() {
		defer close(ws.done)
		for {
			typ, b, err := conn.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					ws.CloseCode = ce.Code
				}
				return
			}
			if typ != websocket.TextMessage {
				continue
			}
			select {
			case ws.frames <- b:
			default:
			}
			var m struct {
				Instruction int `json:"instruction"`
			}
			if json.Unmarshal(b, &m) == nil && m.Instruction != InstructionACK && !noACK {
				ws.wmu.Lock()
				conn.WriteMessage(websocket.TextMessage, []byte(`{"instruction":0,"args":{}}`))
				ws.wmu.Unlock()
			}
		}
	}()
}

// testProvider is a valid proxy provider named name on host.
func testProvider(pk int, name, host string) ProxyOutpostConfig {
	v := 3600.0
	return ProxyOutpostConfig{
		PK: pk, Name: name, Mode: ModeProxy,
		ExternalHost: "https://" + host, InternalHost: "http://upstream-" + strconv.Itoa(pk) + ":8080",
		ClientID: "client-" + strconv.Itoa(pk), ClientSecret: "secret", CookieSecret: "cookie-secret-" + strconv.Itoa(pk),
		AccessTokenValidity: &v, ScopesToRequest: []string{"openid", "profile"},
		AssignedApplicationSlug: "app-" + strconv.Itoa(pk), AssignedApplicationName: name,
		OIDCConfiguration: OpenIDConnectConfiguration{
			Issuer: "https://auth.example.com/application/o/app/", AuthorizationEndpoint: "https://auth.example.com/application/o/authorize/",
			TokenEndpoint: "https://auth.example.com/application/o/token/", JWKSURI: "https://auth.example.com/application/o/app/jwks/",
			ResponseTypesSupported: []string{"code"}, IDTokenSigningAlgValuesSupported: []string{"HS256"},
			SubjectTypesSupported: []string{"public"}, TokenEndpointAuthMethodsSupported: []string{"client_secret_post"},
		},
	}
}

func testProviders(n int) []ProxyOutpostConfig {
	out := make([]ProxyOutpostConfig, n)
	for i := range out {
		out[i] = testProvider(i+1, fmt.Sprintf("provider-%04d", i+1), fmt.Sprintf("app%d.example.com", i+1))
	}
	return out
}

// testEnv is the core endpoint of an outpost pointed at hostURL, its path
// completed to "/" as internal/config does for AUTHENTIK_HOST.
func testEnv(t *testing.T, hostURL, token string) CoreEndpoint {
	t.Helper()
	u, err := url.Parse(hostURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return CoreEndpoint{Host: u, Token: token}
}

func newTestLogger(t *testing.T) (*slog.Logger, *proctest.Buffer) {
	lb := &proctest.Buffer{}
	h := slog.NewTextHandler(io.MultiWriter(lb, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), lb
}

// testWriter sends log lines to t.Log, so a failing test shows them.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { recover() }() // a log line after the test ended is dropped
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// freeAddr reserves an address on 127.0.0.1 with nothing listening on it.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
