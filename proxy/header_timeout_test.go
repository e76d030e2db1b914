package proxy_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
)

// slowApp never answers /hang, answers /sse and /late-body with headers at
// once and the rest over 2.5 s, and echoes websockets however late.
func slowApp(t *testing.T) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			<-r.Context().Done() // no status, no headers, ever
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 6 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(500 * time.Millisecond)
			}
		case "/late-body":
			w.Header().Set("Content-Length", "4")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			time.Sleep(2500 * time.Millisecond)
			_, _ = w.Write([]byte("done"))
		case "/ws":
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				mt, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				_ = c.WriteMessage(mt, msg)
			}
		default:
			fmt.Fprint(w, "quick")
		}
	}))
	// Close does not wait for /hang to notice its client left.
	t.Cleanup(app.CloseClientConnections)
	t.Cleanup(app.Close)
	return app
}

// Issue 22, item 5: an upstream that never sends its headers is answered
// 504 with the error page at the configured timeout, from the provider's
// response_header_timeout or the outpost-wide setting; an SSE stream, a
// body that arrives after its headers and a websocket through the same
// provider outlive it; a provider with another timeout at the same
// upstream keeps its own.
func TestUpstreamResponseHeaderTimeout(t *testing.T) {
	app := slowApp(t)
	iss := testIssuerURL(t)
	ln := listen(t)
	addr := ln.Addr().String()
	srv := proxy.New(proxy.Options{Log: slog.New(slog.DiscardHandler), Version: "0.1.0", ResponseHeaderTimeout: time.Second})
	defer srv.Close()
	front := proxy.NewHTTPServer(srv)
	go func() { _ = front.Serve(ln) }()
	defer front.Close()
	provider := func(name, extra string) string {
		return fmt.Sprintf(`  - name: %[1]s
    external_host: http://%[1]s.localhost
    internal_host: %[2]s
    issuer: %[3]s
    client_id: %[1]s-client
    client_secret: %[1]s-secret
    cookie_secret: standalone-cookie-secret-0123
    skip_path_regex: "^/"
%[4]s`, name, app.URL, iss, extra)
	}
	snap, err := outpostapi.ParseStatic([]byte("outpost: {name: standalone}\nproviders:\n"+
		provider("own", "    response_header_timeout: 1s\n")+
		provider("global", "")+
		provider("patient", "    response_header_timeout: 1h\n")), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
	do := func(host, path, accept string, timeout time.Duration) (*http.Response, string, time.Duration, error) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = host
		req.Header.Set("Accept", accept)
		start := time.Now()
		resp, err := (&http.Client{Timeout: timeout}).Do(req)
		if err != nil {
			return nil, "", time.Since(start), err
		}
		body := readBody(resp)
		return resp, body, time.Since(start), nil
	}

	for _, tc := range []struct {
		name, host, accept, want, contentType string
	}{
		{"the provider's own timeout, a browser", "own.localhost", "text/html", "Gateway timeout", "text/html"},
		{"the provider's own timeout, an API client", "own.localhost", "application/json", `"error":"Gateway timeout"`, "application/json"},
		{"the outpost-wide timeout", "global.localhost", "text/html", "Gateway timeout", "text/html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, took, err := do(tc.host, "/hang", tc.accept, 10*time.Second)
			if err != nil {
				t.Fatalf("no answer: %v after %s", err, took)
			}
			if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, tc.want) || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType) {
				t.Errorf("%d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if took < 900*time.Millisecond || took > 4*time.Second {
				t.Errorf("answered after %s, want about 1 s", took)
			}
		})
	}

	t.Run("another provider at the same upstream keeps its own timeout", func(t *testing.T) {
		resp, _, took, err := do("patient.localhost", "/hang", "text/html", 2500*time.Millisecond)
		if err == nil {
			t.Fatalf("answered %d after %s; its timeout is an hour", resp.StatusCode, took)
		}
	})

	for _, path := range []string{"/sse", "/late-body"} {
		t.Run(path+" outlives the timeout", func(t *testing.T) {
			resp, body, took, err := do("own.localhost", path, "text/html", 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			want := "done"
			if path == "/sse" {
				want = "data: 5\n\n"
			}
			if resp.StatusCode != 200 || !strings.HasSuffix(body, want) || took < 2*time.Second {
				t.Errorf("%d after %s: %q", resp.StatusCode, took, body)
			}
		})
	}

	t.Run("a websocket outlives the timeout", func(t *testing.T) {
		c, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial("ws://"+addr+"/ws", http.Header{"Host": {"own.localhost"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range 3 {
			time.Sleep(800 * time.Millisecond)
			if err := c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint("ping ", i))); err != nil {
				t.Fatalf("write after %d: %v", i, err)
			}
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != fmt.Sprint("ping ", i) {
				t.Fatalf("echo %d: %q %v", i, msg, err)
			}
		}
	})
}
