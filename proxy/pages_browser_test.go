package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/outpost-dev/outpost/internal/headless"
	"github.com/outpost-dev/outpost/proxy"
)

// Every page the outpost answers itself, as a person sees it in headless
// Chromium and as a client asking for JSON gets it: a heading, the
// request id, a viewport for phones and the way forward. Screenshots go to
// OUTPOST_SCREENSHOTS when it is set; the test fails on a missing element,
// never on pixels.
func TestPagesInBrowser(t *testing.T) {
	s := newAuthzStack(t)
	// A second outpost whose issuer and upstream are down, and a third
	// that has no configuration yet.
	deadLn := listen(t)
	_, deadPort, _ := strings.Cut(deadLn.Addr().String(), ":")
	serveStandalone(t, deadLn, "outpost: {name: dead}\nproviders:\n"+
		standaloneProvider("dead", "proxy", "127.0.0.1:"+deadPort, "http://127.0.0.1:1", "http://127.0.0.1:1", ""), proxy.Options{})
	dead := "http://" + deadLn.Addr().String()
	startingLn := listen(t)
	startingSrv := proxy.NewHTTPServer(proxy.New(proxy.Options{}))
	go func() { _ = startingSrv.Serve(startingLn) }()
	t.Cleanup(func() { _ = startingSrv.Close() })
	starting := "http://" + startingLn.Addr().String()

	// Five wrong credentials from 127.0.0.1 use up its budget.
	spend := func() {
		for i := range 6 {
			s.viaProxy(t, "GET", "/graph", "Authorization", fmt.Sprintf("Bearer wrong-%d", i))
		}
	}
	fwd := "http://fwd.localhost:" + s.port

	fwdHeaders := map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": "fwd.localhost:" + s.port, "X-Forwarded-Uri": "/graph"}
	cases := []struct {
		name, url string
		header    map[string]string
		status    int
		heading   string
		way       string // the id of the way forward
		text      string // also on the page
		before    func() // runs before each visit
	}{
		{"sign-in start, issuer down", dead + "/outpost.goauthentik.io/start", nil, 502, "Sign-in is unavailable", "retry", "", nil},
		{"bad callback", s.outpost + "/outpost.goauthentik.io/callback?state=forged&code=x", nil, 400, "Sign-in failed", "back", "", nil},
		{"401 bad token", s.outpost + "/graph", map[string]string{"Authorization": "Bearer " + s.issuer.Token("olga", "prom-client", time.Hour) + "x"}, 401, "Sign-in required", "sign-in", "", nil},
		{"403", s.outpost + "/graph", map[string]string{"Authorization": "Bearer " + s.issuer.Token("nogroup", "prom-client", time.Hour)}, 403, "Access denied", "switch-account", "nogroup", nil},
		{"unknown host", "http://unknown.localhost:" + s.port + "/", nil, 400, "Unknown application", "", "unknown.localhost:" + s.port, nil},
		{"429", s.outpost + "/graph", map[string]string{"Authorization": "Bearer never-tried"}, 429, "Too many attempts", "retry", "", spend},
		{"500 forward auth misconfigured", fwd + "/outpost.goauthentik.io/auth/traefik", fwdHeaders, 500, "Configuration error", "retry", "", nil},
		{"502 upstream down", dead + "/-/healthy", nil, 502, "Bad gateway", "retry", "", nil},
		{"503 starting", starting + "/", nil, 503, "Starting", "retry", "", nil},
		{"signed out", s.outpost + "/outpost.goauthentik.io/signed_out", nil, 200, "Signed out", "sign-in", "", nil},
	}
	shots := os.Getenv("OUTPOST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	browser := headless.Browser(t, 3*time.Minute)
	// The browser starts on its own context, which the visits' time
	// limits must not close.
	if err := chromedp.Do(browser); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before()
			}
			ctx, cancel := context.WithTimeout(browser, 20*time.Second)
			defer cancel()
			hdr := network.Headers{}
			for k, v := range c.header {
				hdr[k] = v
			}
			if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: hdr}); err != nil {
				t.Fatal(err)
			}
			resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(c.url))
			if err != nil {
				t.Fatal(err)
			}
			if int(resp.Status) != c.status {
				t.Errorf("status %d, want %d", resp.Status, c.status)
			}
			text := func(sel string) string {
				t.Helper()
				v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+jsString(sel)+`)||{}).textContent||""`))
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			if got := text("h1"); got != c.heading {
				t.Errorf("heading %q, want %q", got, c.heading)
			}
			if id := text("#request-id"); len(id) < 8 || id != resp.Headers["X-Request-Id"] {
				t.Errorf("request id %q (header %v)", id, resp.Headers["X-Request-Id"])
			}
			if vp, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('meta[name=viewport]')||{}).content||""`)); !strings.Contains(vp, "width=device-width") {
				t.Errorf("viewport %q", vp)
			}
			if c.way != "" {
				href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById(`+jsString(c.way)+`)||{}).href||""`))
				if href == "" {
					t.Errorf("no way forward #%s", c.way)
				}
			}
			if c.text != "" && !strings.Contains(text("main"), c.text) {
				t.Errorf("page does not say %q: %s", c.text, text("main"))
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil || len(png) == 0 {
				t.Fatalf("screenshot: %v", err)
			}
			_ = os.WriteFile(filepath.Join(shots, strings.ReplaceAll(c.name, " ", "_")+".png"), png, 0o644)
		})
		t.Run(c.name+" as JSON", func(t *testing.T) {
			if c.before != nil {
				c.before()
			}
			// Go resolves no *.localhost: the outpost's address, the name
			// in Host.
			u, _ := url.Parse(c.url)
			host := u.Host
			if h, _, _ := strings.Cut(host, ":"); strings.HasSuffix(h, ".localhost") {
				u.Host = "127.0.0.1:" + s.port
			}
			req, _ := http.NewRequest("GET", u.String(), nil)
			req.Host = host
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			req.Header.Set("Accept", "application/json")
			resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != c.status {
				t.Fatalf("%d %q: %v", resp.StatusCode, body, err)
			}
			if c.way == "" || c.name == "401 bad token" {
				return // the reference's and the 401's own bodies
			}
			if got["request_id"] != resp.Header.Get("X-Request-Id") || got["error"] != c.heading {
				t.Errorf("JSON %v", got)
			}
		})
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
