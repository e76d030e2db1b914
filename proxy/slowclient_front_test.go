package proxy_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/testissuer"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
)

// TestShortPostThroughNginxAndCaddy: issue 21, row 7 behind the shipped
// nginx and Caddy forward-auth configurations. The auth subrequest carries
// no body, so the outpost answers at once; the client's unsent body is the
// front proxy's to wait for (nginx: client_body_timeout, 60 s by default;
// Caddy: no body timeout unless configured). The test asserts that the
// outpost stays free and never lets the POST through, and logs what the
// front proxy does with its client.
func TestShortPostThroughNginxAndCaddy(t *testing.T) {
	issuer := testissuer.Start(t, authzUsers)
	app := newRowApp(t, "app")
	caddyLn, nginxLn, outLn := listen(t), listen(t), listen(t)
	caddyAddr, nginxAddr := caddyLn.Addr().String(), nginxLn.Addr().String()
	caddyLn.Close()
	nginxLn.Close()
	snap, err := outpostapi.ParseStatic([]byte("outpost: {name: slow}\nproviders:\n"+
		standaloneProvider("caddy", "forward_single", caddyAddr, app.URL, issuer.URL, authzRules)+
		standaloneProvider("nginx", "forward_single", nginxAddr, app.URL, issuer.URL, authzRules)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := proxy.New(proxy.Options{Log: slog.New(slog.DiscardHandler), Version: "0.1.0",
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
	front := proxy.NewHTTPServer(srv)
	go func() { _ = front.Serve(outLn) }()
	t.Cleanup(func() { _ = front.Close() })
	outpost := outLn.Addr().String()
	runCaddy(t, caddyAddr, outpost, caddySite{"http://" + caddyAddr, app.URL})
	runNginxServers(t, nginxAddr, outpost, "../deploy/nginx", nginxServer{app: app.URL})

	for _, c := range []struct{ via, addr string }{{"nginx", nginxAddr}, {"caddy", caddyAddr}} {
		t.Run(c.via+" anonymous", func(t *testing.T) {
			conn, err := net.Dial("tcp", c.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			_ = conn.SetDeadline(start.Add(5 * time.Second))
			fmt.Fprintf(conn, "POST /api/v2/silences HTTP/1.1\r\nHost: %s\r\nContent-Length: 200000\r\n\r\nab", c.addr)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				// Caddy is a Go net/http server too: without a read_body
				// timeout it waits for the body before it answers.
				t.Logf("%s: no answer within 5 s (%v)", c.via, err)
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				if resp.StatusCode == http.StatusOK {
					t.Errorf("anonymous POST through %s: 200", c.via)
				}
				answered := time.Since(start)
				_, err = br.ReadByte()
				var ne net.Error
				held := "closed"
				if errors.As(err, &ne) && ne.Timeout() {
					held = "still open"
				}
				t.Logf("%s answered %d after %s; the connection was %s at %s",
					c.via, resp.StatusCode, answered.Round(time.Millisecond), held, time.Since(start).Round(time.Millisecond))
			}
			// Whatever the front proxy does with its client, the outpost
			// is free: it answers at once.
			if code, _ := rawRequest(t, outpost, "GET /outpost.goauthentik.io/ping HTTP/1.1\r\nHost: x\r\n\r\n"); code.StatusCode != http.StatusNoContent {
				t.Errorf("outpost ping: %d", code.StatusCode)
			}
		})
	}
}
