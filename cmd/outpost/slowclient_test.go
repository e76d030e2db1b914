package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Issue 21, row 7, against the real binary: a POST announcing 200000 bytes
// and sending 2 is answered and hung up on, on every listener; one client
// address cannot hold more than its share of connections.

// shortPostAnswered sends the short POST over conn and wants an answer with
// Connection: close, then the end of the connection, within 5 s.
func shortPostAnswered(t *testing.T, conn net.Conn, host, path string) int {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 200000\r\n\r\nab"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if !resp.Close {
		t.Errorf("answer %d without Connection: close", resp.StatusCode)
	}
	var ne net.Error
	if _, err := br.ReadByte(); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the connection stayed open after the answer")
	}
	return resp.StatusCode
}

// dialFrom dials addr from the loopback address src (127.0.0.2, ...).
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// pingServed reports whether conn gets an answer to a ping (keep-alive).
func pingServed(conn net.Conn) bool {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /outpost.goauthentik.io/ping HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}

// dialServed dials from src until a connection is served: slots closed
// by the test count out once the outpost reads the close.
func dialServed(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := dialFrom(src, addr)
		if err == nil && pingServed(c) {
			return c
		}
		if c != nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection from %s to %s served", src, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSlowClientsBinary(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, httpsAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	p := start(t, []string{
		"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__HTTPS=" + httpsAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr,
		// 127.0.0.3 plays a reverse proxy in front; 127.0.0.2 is a client.
		"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS=127.0.0.3/32",
		"OUTPOST_LISTEN__MAX_CONNS_PER_CLIENT=4",
	}, "--config", cfg)
	p.waitFor(t, "configuration in force", 30*time.Second)
	waitHTTP(t, "http://"+metricsAddr+"/outpost.goauthentik.io/ping")

	t.Run("short POST answered and closed", func(t *testing.T) {
		for _, tc := range []struct {
			name, addr, path string
			tls              bool
		}{
			{"http sign-in", httpAddr, "/", false},
			{"http ping", httpAddr, "/outpost.goauthentik.io/ping", false},
			{"https sign-in", httpsAddr, "/", true},
			{"metrics", metricsAddr, "/metrics", false},
			{"metrics ping", metricsAddr, "/outpost.goauthentik.io/ping", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var conn net.Conn
				var err error
				if tc.tls {
					conn, err = tls.Dial("tcp", tc.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}, ServerName: "prom.test"}) //nolint:gosec // the fallback certificate
				} else {
					conn, err = net.Dial("tcp", tc.addr)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				t.Logf("answered %d", shortPostAnswered(t, conn, "prom.test", tc.path))
			})
		}
	})

	t.Run("connections per client capped, trusted proxy not", func(t *testing.T) {
		// One count over all listeners: each round gives its slots back.
		for _, addr := range []string{httpAddr, metricsAddr} {
			var held []net.Conn
			for range 4 {
				held = append(held, dialServed(t, "127.0.0.2", addr))
			}
			over, err := dialFrom("127.0.0.2", addr)
			if err == nil {
				if pingServed(over) {
					t.Errorf("%s: a fifth connection from 127.0.0.2 was served", addr)
				}
				over.Close()
			}
			for i := range 8 {
				c, err := dialFrom("127.0.0.3", addr)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
				if !pingServed(c) {
					t.Errorf("%s: connection %d from the trusted proxy 127.0.0.3 not served", addr, i+1)
				}
			}
			// A slot given back is usable again.
			held[0].Close()
			held = append(held[1:], dialServed(t, "127.0.0.2", addr))
			for _, c := range held {
				c.Close()
			}
		}
		// Log lines reach the output up to 10 ms after they are logged.
		p.waitOutput(t, "too many open connections from this client", 5*time.Second)
	})
}
