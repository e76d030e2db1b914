package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Issue 21, row 7: a POST that announces a body and sends 2 bytes of it
// held every connection for good. These tests speak raw HTTP/1.1 to the
// real data plane behind its real listener.

// shortPost is the attack: Content-Length 200000, two bytes of body.
func shortPost(host, path string) string {
	return "POST " + path + " HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200000\r\n\r\nab"
}

// answerAndClose sends req on conn and wants, before deadline, an answer
// with Connection: close and then the end of the connection.
func answerAndClose(t *testing.T, conn net.Conn, req string, deadline time.Duration) *http.Response {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(deadline))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", deadline, err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	if !resp.Close {
		t.Errorf("answer %d without Connection: close (header %q)", resp.StatusCode, resp.Header.Get("Connection"))
	}
	// The outpost must hang up: EOF (or a reset), not a timeout.
	if _, err := br.ReadByte(); err == nil {
		t.Error("more bytes after the answer")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open %s after the request", deadline)
	}
	return resp
}

func dialOutpost(t *testing.T, st *stack) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(st.outpost, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestUnreadBodyAnswerCloses: answers the outpost writes itself do not
// wait for a body they never read; with the default 60 s body idle
// timeout, so the answer cannot come from that.
func TestUnreadBodyAnswerCloses(t *testing.T) {
	st := newStack(t)
	host := strings.TrimPrefix(st.outpost, "http://")
	for _, tc := range []struct {
		name, host, path string
		status           int
	}{
		// Not GET: no redirect to sign in, 401.
		{"sign-in required", host, "/private", http.StatusUnauthorized},
		{"ping", host, "/outpost.goauthentik.io/ping", http.StatusNoContent},
		{"unknown host", "nobody.example", "/", http.StatusUnauthorized},
		{"static prefix", host, "/outpost.goauthentik.io/static/x.js", http.StatusNotFound},
		{"callback without state", host, "/outpost.goauthentik.io/callback?X-authentik-auth-callback=true", http.StatusBadRequest},
		{"back-channel logout of a core provider", host, "/outpost.goauthentik.io/backchannel-logout", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := answerAndClose(t, dialOutpost(t, st), shortPost(tc.host, tc.path), 5*time.Second)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// bodyUpstream reads whole request bodies and reports what it got.
type bodyResult struct {
	n   int64
	err error
}

func newBodyUpstream(t *testing.T) (string, chan bodyResult) {
	got := make(chan bodyResult, 10)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		got <- bodyResult{n, err}
		if r.URL.Path == "/public/stream" {
			// A long answer after the whole body (a slow query, a stream):
			// one line every 500 ms for 3 s.
			for i := range 6 {
				fmt.Fprintf(w, "line %d\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(500 * time.Millisecond)
			}
			return
		}
		fmt.Fprintf(w, "got %d", n)
	}))
	t.Cleanup(up.Close)
	return up.URL, got
}

// TestProxiedUploadIdleTimeout: with a 1 s body idle timeout, an upload
// that sends a little every 300 ms for 3 s goes through whole; one that
// stalls is cut after about the idle timeout and never answered 200.
func TestProxiedUploadIdleTimeout(t *testing.T) {
	upURL, got := newBodyUpstream(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid]", upstream: upURL, bodyIdle: time.Second})
	host := strings.TrimPrefix(st.outpost, "http://")

	t.Run("slow upload making progress is not cut", func(t *testing.T) {
		conn := dialOutpost(t, st)
		_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
		const chunks, size = 10, 100
		fmt.Fprintf(conn, "POST /public/upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", host, chunks*size)
		for range chunks {
			time.Sleep(300 * time.Millisecond)
			if _, err := conn.Write([]byte(strings.Repeat("x", size))); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(body) != fmt.Sprintf("got %d", chunks*size) {
			t.Errorf("answer %d %q", resp.StatusCode, body)
		}
		if r := <-got; r.err != nil || r.n != chunks*size {
			t.Errorf("upstream got %d bytes, error %v", r.n, r.err)
		}
	})

	t.Run("answer longer than the idle timeout after the whole body is not cut", func(t *testing.T) {
		conn := dialOutpost(t, st)
		_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
		fmt.Fprintf(conn, "POST /public/stream HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\n\r\nok", host)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || !strings.HasSuffix(string(body), "line 5\n") {
			t.Errorf("the stream was cut: %q %v", body, err)
		}
		<-got
	})

	t.Run("stalled upload is cut", func(t *testing.T) {
		start := time.Now()
		resp := answerAndClose(t, dialOutpost(t, st), shortPost(host, "/public/upload"), 8*time.Second)
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("a stalled upload was answered %d, want 408", resp.StatusCode)
		}
		if took := time.Since(start); took < 900*time.Millisecond {
			t.Errorf("cut after %s, before the 1 s idle timeout", took)
		}
		select {
		case r := <-got:
			if r.err == nil || r.n >= 200000 {
				t.Errorf("upstream got %d bytes without error", r.n)
			}
		case <-time.After(5 * time.Second):
			t.Error("the upstream never saw the request end")
		}
		t.Logf("stalled upload answered %d after %s", resp.StatusCode, time.Since(start).Round(time.Millisecond))
	})
}

// TestBackchannelLogoutShortPost: the one endpoint of the outpost that
// reads a body refuses one larger than a logout form before reading it,
// rather than waiting (up to the body idle timeout) for bytes that never
// come.
func TestBackchannelLogoutShortPost(t *testing.T) {
	iss := newTestIssuer(t)
	external, _ := outpostFor(t, iss.url)
	addr := strings.TrimPrefix(external, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp := answerAndClose(t, conn, shortPost(addr, "/outpost.goauthentik.io/backchannel-logout"), 5*time.Second)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
}
