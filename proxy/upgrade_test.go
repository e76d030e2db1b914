package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// tunnelApp is an app that takes any upgrade, as the worst real ones do:
// h2c on "Upgrade: h2c" alone (no HTTP2-Settings in Connection needed),
// where it then serves HTTP/2 requests; a websocket handshake as a
// websocket echo; any other protocol (tcp, SPDY/3.1, ...) with a 101 and
// an echo of the bytes. It records every request it gets, HTTP/2 ones
// included, by the X-Row header each carries.
type tunnelApp struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
	// rogue, when set, is the raw 101 answered to every request, asked for
	// an upgrade or not (then an echo).
	rogue string
}

type seenRequest struct {
	row   string
	proto int // 1 or 2
	h     http.Header
}

func newTunnelApp(t *testing.T) *tunnelApp {
	a := &tunnelApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *tunnelApp) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, seenRequest{row: r.Header.Get("X-Row"), proto: r.ProtoMajor, h: r.Header.Clone()})
	a.mu.Unlock()
	if r.ProtoMajor == 2 {
		fmt.Fprintf(w, "h2 %s as %q", r.URL.Path, r.Header.Get("X-Authentik-Username"))
		return
	}
	var first string
	for _, line := range r.Header.Values("Upgrade") {
		if tok, _, _ := strings.Cut(line, ","); strings.TrimSpace(tok) != "" && first == "" {
			first = strings.TrimSpace(tok)
		}
	}
	switch {
	case a.rogue != "":
		a.splice(w, a.rogue)
	case first == "":
		fmt.Fprintf(w, "plain %s as %q", r.URL.Path, r.Header.Get("X-Authentik-Username"))
	case strings.EqualFold(first, "h2c"):
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
		_ = brw.Flush()
		(&http2.Server{}).ServeConn(bufferedConn{conn, brw.Reader}, &http2.ServeConnOpts{Handler: http.HandlerFunc(a.serve), UpgradeRequest: r})
	case websocket.IsWebSocketUpgrade(r):
		echoAs(w, r, r.Header.Get("X-Authentik-Username"))
	default:
		a.splice(w, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+first+"\r\n\r\n")
	}
}

// splice answers head (a 101) and echoes whatever comes after.
func (a *tunnelApp) splice(w http.ResponseWriter, head string) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString(head)
	_ = brw.Flush()
	_, _ = io.Copy(conn, brw)
}

// rows are the requests the app got for row (HTTP/2 ones as row+"/h2").
func (a *tunnelApp) rows(row string) []seenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []seenRequest
	for _, s := range a.seen {
		if s.row == row || s.row == row+"/h2" {
			out = append(out, s)
		}
	}
	return out
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// tunnelAttempt sends raw to addr and, when the answer is a 101, uses the
// tunnel as an attacker would: over h2c, an HTTP/2 request for /admin as
// "admin" (X-Row row+"/h2"); over anything else, a line to echo. got is
// what came back through the tunnel ("" when there was none).
func tunnelAttempt(t *testing.T, addr, raw, row string) (status int, got string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to %q: %v", raw, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, ""
	}
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if strings.EqualFold(resp.Header.Get("Upgrade"), "h2c") {
		return resp.StatusCode, h2Request(t, c, br, row)
	}
	if _, err := io.WriteString(c, "tunnel ping\n"); err != nil {
		return resp.StatusCode, ""
	}
	line, _ := br.ReadString('\n')
	return resp.StatusCode, line
}

// h2Request speaks HTTP/2 over an upgraded connection: the preface, and a
// GET /admin with a forged identity on stream 3 (stream 1 is the upgrade
// request's). It returns the answer's status line as "h2 <status>".
func h2Request(t *testing.T, c net.Conn, br *bufio.Reader, row string) string {
	t.Helper()
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return ""
	}
	fr := http2.NewFramer(c, br)
	_ = fr.WriteSettings()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "app"}, {":path", "/admin"},
		{"x-authentik-username", "admin"}, {"x-authentik-groups", "admins"}, {"x-row", row + "/h2"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
	dec := hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return ""
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			fields, _ := dec.DecodeFull(f.HeaderBlockFragment())
			if f.StreamID == 3 {
				for _, hf := range fields {
					if hf.Name == ":status" {
						return "h2 " + hf.Value
					}
				}
			}
		}
	}
}

// upgradeRaw is a request template: {H} the host, {C} a Cookie line (or
// nothing, anonymous), {ROW} the row's name.
func upgradeRaw(tmpl, host, cookie, row string) string {
	if cookie != "" {
		cookie = "Cookie: " + cookie + "\n"
	}
	r := strings.NewReplacer("{H}", host, "{C}", cookie, "{ROW}", row)
	return strings.ReplaceAll(r.Replace(tmpl), "\n", "\r\n")
}

// upgradeRow is a request a client controls entirely, and whether, since
// it asks for a websocket among other protocols, a websocket may come of
// it (never anything else).
type upgradeRow struct {
	name, req string
	signedIn  bool
	websocket bool
}

const h2cSettings = "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\n"

var upgradeRows = []upgradeRow{
	{name: "h2c, anonymous, skipped path", req: "GET /public/x HTTP/1.1\nHost: {H}\nConnection: Upgrade, HTTP2-Settings\nUpgrade: h2c\n" + h2cSettings + "X-Row: {ROW}\n\n"},
	{name: "h2c, signed in", signedIn: true, req: "GET /x HTTP/1.1\nHost: {H}\n{C}Connection: Upgrade, HTTP2-Settings\nUpgrade: h2c\n" + h2cSettings + "X-Row: {ROW}\n\n"},
	{name: "H2C upper case, connection lower case, skipped path", req: "GET /public/x HTTP/1.1\nHost: {H}\nconnection: upgrade, http2-settings\nupgrade: H2C\n" + h2cSettings + "X-Row: {ROW}\n\n"},
	{name: "h2c without HTTP2-Settings, signed in", signedIn: true, req: "GET /x HTTP/1.1\nHost: {H}\n{C}Connection: Upgrade\nUpgrade: h2c\nX-Row: {ROW}\n\n"},
	{name: "h2c, Connection keep-alive and Upgrade", signedIn: true, req: "GET /x HTTP/1.1\nHost: {H}\n{C}Connection: keep-alive, Upgrade\nUpgrade: h2c\nX-Row: {ROW}\n\n"},
	{name: "h2c, two Connection lines", req: "GET /public/x HTTP/1.1\nHost: {H}\nConnection: keep-alive\nConnection: Upgrade\nUpgrade: h2c\nX-Row: {ROW}\n\n"},
	{name: "h2c on POST, skipped path", req: "POST /public/x HTTP/1.1\nHost: {H}\nContent-Length: 0\nConnection: Upgrade\nUpgrade: h2c\nX-Row: {ROW}\n\n"},
	{name: "h2c, lower-case method", req: "get /public/x HTTP/1.1\nHost: {H}\nConnection: Upgrade\nUpgrade: h2c\nX-Row: {ROW}\n\n"},
	{name: "h2c without Connection: upgrade", req: "GET /public/x HTTP/1.1\nHost: {H}\nUpgrade: h2c\n" + h2cSettings + "X-Row: {ROW}\n\n"},
	{name: "h2c, anonymous, protected path", req: "GET /x HTTP/1.1\nHost: {H}\nConnection: Upgrade\nUpgrade: h2c\nX-Row: {ROW}\n\n"},
	{name: "h2c, websocket list", websocket: true, signedIn: true, req: "GET /x HTTP/1.1\nHost: {H}\n{C}Connection: Upgrade\nUpgrade: h2c, websocket\nX-Row: {ROW}\n\n"},
	{name: "websocket, h2c list", websocket: true, signedIn: true, req: "GET /x HTTP/1.1\nHost: {H}\n{C}Connection: Upgrade\nUpgrade: websocket, h2c\nX-Row: {ROW}\n\n"},
	{name: "Upgrade lines h2c then websocket", websocket: true, req: "GET /public/x HTTP/1.1\nHost: {H}\nConnection: Upgrade\nUpgrade: h2c\nUpgrade: websocket\nX-Row: {ROW}\n\n"},
	{name: "tcp, signed in", signedIn: true, req: "GET /x HTTP/1.1\nHost: {H}\n{C}Connection: Upgrade\nUpgrade: tcp\nX-Row: {ROW}\n\n"},
	{name: "SPDY/3.1, signed in, POST", signedIn: true, req: "POST /api/v1/namespaces/default/pods/web/exec HTTP/1.1\nHost: {H}\n{C}Content-Length: 0\nConnection: Upgrade\nUpgrade: SPDY/3.1\nX-Stream-Protocol-Version: v4.channel.k8s.io\nX-Row: {ROW}\n\n"},
	{name: "spdy/3.1 lower case, skipped path", req: "GET /public/x HTTP/1.1\nHost: {H}\nConnection: upgrade\nUpgrade: spdy/3.1\nX-Row: {ROW}\n\n"},
	{name: "tcp, websocketx list, skipped path", req: "GET /public/x HTTP/1.1\nHost: {H}\nConnection: Upgrade\nUpgrade: tcp, websocketx\nX-Row: {ROW}\n\n"},
}

// checkUpgradeRow sends row to addr (the outpost, or a reverse proxy in
// front) and asserts that no tunnel other than a websocket came of it, and
// what the app received: never an Upgrade other than websocket, never
// HTTP2-Settings, never an HTTP/2 request.
func checkUpgradeRow(t *testing.T, app *tunnelApp, addr, host, cookie string, row upgradeRow) {
	t.Helper()
	name := strings.ReplaceAll(t.Name(), " ", "_")
	c := ""
	if row.signedIn {
		c = cookie
	}
	status, got := tunnelAttempt(t, addr, upgradeRaw(row.req, host, c, name), name)
	switch {
	case status == http.StatusSwitchingProtocols && !row.websocket:
		t.Errorf("the client got a 101 and a tunnel (%q)", got)
	case status >= 500:
		t.Errorf("the client got %d for its own request", status)
	}
	for _, s := range app.rows(name) {
		if s.proto == 2 {
			t.Errorf("an HTTP/2 request reached the app through a tunnel as %q", s.h.Get("X-Authentik-Username"))
		}
		for _, up := range s.h.Values("Upgrade") {
			if !strings.EqualFold(up, "websocket") {
				t.Errorf("the app received Upgrade %q", up)
			}
		}
		if v := s.h.Get("Http2-Settings"); v != "" {
			t.Errorf("the app received HTTP2-Settings %q", v)
		}
	}
}

// cookieLine is the Cookie header of c's session at site.
func cookieLine(t *testing.T, c *http.Client, site string) string {
	t.Helper()
	ck := sessionCookie(t, c, site)
	return ck.Name + "=" + ck.Value
}

// Row 1 and 2 of issue 21 at the outpost's plain port: only websocket
// upgrades pass by default; h2c, tcp and SPDY are removed from the request
// on every path, skipped ones included, so the app answers a plain request
// and nothing is spliced.
func TestOnlyWebsocketUpgradesPass(t *testing.T) {
	app := newTunnelApp(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: app.URL})
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"))
	cookie := cookieLine(t, c, st.outpost)
	addr := strings.TrimPrefix(st.outpost, "http://")
	for _, row := range upgradeRows {
		t.Run(row.name, func(t *testing.T) { checkUpgradeRow(t, app, addr, addr, cookie, row) })
	}
	// The one allowed protocol still works.
	t.Run("websocket, signed in", func(t *testing.T) {
		dialer := websocket.Dialer{Jar: c.Jar, HandshakeTimeout: 5 * time.Second}
		conn, _, err := dialer.Dial("ws://"+addr+"/live", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.WriteMessage(websocket.TextMessage, []byte("hi"))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, msg, err := conn.ReadMessage(); err != nil || string(msg) != "alice: hi" {
			t.Errorf("echo: %q %v", msg, err)
		}
	})
}

// An app that answers 101 to what was not asked is never spliced: a 101
// without Upgrade to a plain request, an h2c 101 to a request whose h2c the
// outpost removed, an h2c 101 to a websocket handshake. The client gets
// 502, the app's fault. Go's Transport and ReverseProxy refuse these
// already (a 101 needs Upgrade and Connection: upgrade, and the protocol
// the request asked for); the outpost checks again against the protocol
// it let through (checkSwitch), so this holds whatever they do.
func TestUnaskedSwitchIsNotSpliced(t *testing.T) {
	for _, tc := range []struct{ name, answer, req string }{
		{"101 without Upgrade to a plain request", "HTTP/1.1 101 Switching Protocols\r\n\r\n",
			"GET /public/x HTTP/1.1\nHost: {H}\nX-Row: {ROW}\n\n"},
		{"101 with Connection: upgrade but no Upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
			"GET /public/x HTTP/1.1\nHost: {H}\nX-Row: {ROW}\n\n"},
		{"h2c 101 to a removed h2c upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
			"GET /public/x HTTP/1.1\nHost: {H}\nConnection: Upgrade\nUpgrade: h2c\nX-Row: {ROW}\n\n"},
		{"h2c 101 to a websocket handshake", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
			"GET /public/x HTTP/1.1\nHost: {H}\nConnection: Upgrade\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nX-Row: {ROW}\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newTunnelApp(t)
			app.rogue = tc.answer
			st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile]", upstream: app.URL})
			addr := strings.TrimPrefix(st.outpost, "http://")
			status, got := tunnelAttempt(t, addr, upgradeRaw(tc.req, addr, "", "rogue"), "rogue")
			if status != http.StatusBadGateway || got != "" {
				t.Errorf("client got %d and %q through the app's 101, want 502 and no tunnel", status, got)
			}
		})
	}
}

// openTunnel opens an upgrade to proto through addr with cookie and checks
// the echo; the tunnel stays open.
func openTunnel(t *testing.T, addr, host, cookie, proto string) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	raw := upgradeRaw("GET /exec HTTP/1.1\nHost: {H}\n{C}Connection: Upgrade\nUpgrade: "+proto+"\nX-Row: {ROW}\n\n", host, cookie, "tunnel")
	_, _ = io.WriteString(c, raw)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return c, br, resp.StatusCode
	}
	_, _ = io.WriteString(c, "ping\n")
	if line, _ := br.ReadString('\n'); line != "ping\n" {
		t.Fatalf("tunnel echo: %q", line)
	}
	_ = c.SetDeadline(time.Time{})
	return c, br, resp.StatusCode
}

// tunnelClosed waits for the far end to close the tunnel and fails past
// within.
func tunnelClosed(t *testing.T, br *bufio.Reader, c net.Conn, within time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(within + 2*time.Second))
	_, err := io.Copy(io.Discard, br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("tunnel still open %s after sign-out", time.Since(start))
	}
	if took := time.Since(start); took > within {
		t.Errorf("tunnel closed %s after sign-out, want within %s", took, within)
	}
}

// Row 2 of issue 21: a provider that allows SPDY/3.1 (kubectl exec) counts
// each tunnel against the per-client cap, websockets beside it included,
// and closes them with the session: within a second of sign-out.
func TestAllowedUpgradeIsCountedAndClosedWithItsSession(t *testing.T) {
	app := newTunnelApp(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: app.URL,
		allowedUpgrades: []string{"websocket", "spdy/3.1"}, maxWebsockets: 2})
	checkTunnelCountedAndClosed(t, st.outpost, strings.TrimPrefix(st.outpost, "http://"))
}

// checkTunnelCountedAndClosed signs in at site (reached at addr), opens a
// SPDY/3.1 tunnel and a websocket (the cap is 2), sees a second tunnel
// refused with 429, signs out and sees both closed within a second.
func checkTunnelCountedAndClosed(t *testing.T, site, addr string) {
	t.Helper()
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, site+"/"), "alice", "alice-pw"))
	cookie := cookieLine(t, c, site)
	host := strings.TrimPrefix(site, "http://")
	tun, br, status := openTunnel(t, addr, host, cookie, "SPDY/3.1")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("allowed SPDY/3.1 tunnel: %d", status)
	}
	dialer := websocket.Dialer{Jar: c.Jar, HandshakeTimeout: 5 * time.Second}
	ws, _, err := dialer.Dial("ws://"+host+"/live", nil)
	if err != nil {
		t.Fatalf("websocket beside the tunnel: %v", err)
	}
	defer ws.Close()
	if _, _, status := openTunnel(t, addr, host, cookie, "SPDY/3.1"); status != http.StatusTooManyRequests {
		t.Errorf("a third long-lived connection: %d, want 429 (the tunnel counts)", status)
	}
	readBody(getPage(t, c, site+"/outpost.goauthentik.io/sign_out"))
	tunnelClosed(t, br, tun, time.Second)
	waitClosed(t, ws, time.Second)
}
