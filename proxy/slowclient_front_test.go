package proxy_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestShortPostThroughNginxAndCaddy: issue 21, row 7 behind the shipped
// nginx and Caddy forward-auth configurations. The auth subrequest carries
// no body, so the outpost answers at once; the client's unsent body is the
// front proxy's to wait for (nginx: client_body_timeout, 60 s by default;
// Caddy: no body timeout unless configured). The test asserts that the
// outpost stays free and never lets the POST through, and logs what the
// front proxy does with its client.
func TestShortPostThroughNginxAndCaddy(t *testing.T) {
	f := frontedPair(t, "slow")
	app, caddyAddr, nginxAddr, outpost := f.app, f.caddyAddr, f.nginxAddr, f.outpost

	for _, c := range []struct{ via, addr string }{{"nginx", nginxAddr}, {"caddy", caddyAddr}} {
		t.Run(c.via+" anonymous", func(t *testing.T) {
			conn, err := net.Dial("tcp", c.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			_ = conn.SetDeadline(start.Add(5 * time.Second))
			fmt.Fprintf(conn, "POST /api/v2/silences HTTP/1.1\r\nHost: %s\r\nX-Row: %s\r\nContent-Length: 200000\r\n\r\nab", c.addr, c.via)
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
			if got := app.got(c.via); got != nil {
				t.Errorf("the anonymous POST reached the app through %s", c.via)
			}
		})
	}
}
