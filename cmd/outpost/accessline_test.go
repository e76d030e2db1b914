package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/proxy"
)

// asSlog is the line slog's own JSON handler, with redactAttr, writes for
// l's record: what every access line must read.
func asSlog(t *testing.T, l proxy.AccessLine) string {
	t.Helper()
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: redactAttr})
	if err := h.Handle(context.Background(), l.Record()); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// shipped is what the shipped handler writes for l: straight from the
// fields, or, when WriteAccess declines, from the record.
func shipped(l proxy.AccessLine) (line string, direct bool) {
	var buf bytes.Buffer
	h := newLineHandler(&buf, &slog.HandlerOptions{ReplaceAttr: redactAttr})
	if h.WriteAccess(context.Background(), l) {
		return buf.String(), true
	}
	if buf.Len() != 0 {
		return "WriteAccess declined and wrote " + buf.String(), false
	}
	_ = h.Handle(context.Background(), l.Record())
	return buf.String(), false
}

func plainLine() proxy.AccessLine {
	return proxy.AccessLine{
		Time: time.Date(2026, 12, 3, 11, 23, 0, 123456789, time.UTC), RequestID: "0123456789abcdef",
		ClientIP: netip.MustParseAddr("192.0.2.10"), Host: "app.example.com", Scheme: "https", Method: "GET",
		Path: "/api/v1/query", Status: 200, Size: 2, DurationMS: 0.412, UserAgent: "curl/8.5.0",
		Provider: "app", Decision: "allowed", AuthMethod: "session", User: "akadmin",
	}
}

func TestAccessLineAsRecord(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(*proxy.AccessLine)
		// direct: the line is written from its fields, not the record.
		direct bool
	}{
		{"signed-in proxy request", func(*proxy.AccessLine) {}, true},
		{"forward auth with a query and a trace", func(l *proxy.AccessLine) {
			l.ForwardAuth, l.Query, l.TraceID = "/outpost.goauthentik.io/auth/nginx", "a=1&b=2", "4bf92f3577b34da6a3ce929d0e0e4736"
		}, true},
		{"anonymous, no decision fields", func(l *proxy.AccessLine) {
			l.Provider, l.Decision, l.AuthMethod, l.User = "", "", "", ""
		}, true},
		{"IPv6 client", func(l *proxy.AccessLine) { l.ClientIP = netip.MustParseAddr("2001:db8::1") }, true},
		{"IPv4-mapped client", func(l *proxy.AccessLine) { l.ClientIP = netip.MustParseAddr("::ffff:192.0.2.1") }, true},
		{"no client address", func(l *proxy.AccessLine) { l.ClientIP = netip.Addr{} }, true},
		{"zoned client address goes by the record", func(l *proxy.AccessLine) {
			l.ClientIP = netip.MustParseAddr(`fe80::1%"x&code=1`)
		}, false},
		{"quotes, controls and non-ASCII", func(l *proxy.AccessLine) {
			l.UserAgent, l.User, l.Path = "a\"b\\c\x00\x1f\t\n\u2028é\xff", "O'Brien \"Bob\"", "/caf%C3%A9/<script>&x"
		}, true},
		{"a secret query value in the user agent goes by the record", func(l *proxy.AccessLine) {
			l.UserAgent = "bot https://x.example/?code=secret-code"
		}, false},
		{"a secret-looking path goes by the record", func(l *proxy.AccessLine) { l.Path = "/a&token=abc" }, false},
		{"a zero duration", func(l *proxy.AccessLine) { l.DurationMS = 0 }, true},
		{"a long duration", func(l *proxy.AccessLine) { l.DurationMS = 3600000.001 }, true},
		{"a duration slog writes with an exponent", func(l *proxy.AccessLine) { l.DurationMS = 1e-7 }, false},
		{"a time zone east of UTC", func(l *proxy.AccessLine) { l.Time = l.Time.In(time.FixedZone("", 5*3600+1800)) }, true},
		{"a monotonic reading", func(l *proxy.AccessLine) { l.Time = time.Now() }, true},
		{"negative size and status", func(l *proxy.AccessLine) { l.Size, l.Status = -1, -5 }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := plainLine()
			c.change(&l)
			got, direct := shipped(l)
			if want := asSlog(t, l); got != want {
				t.Errorf("shipped handler wrote\n%s\nslog writes\n%s", got, want)
			}
			if direct != c.direct {
				t.Errorf("written from the fields: %v, want %v", direct, c.direct)
			}
			if strings.Contains(got, "secret-code") || strings.Contains(got, "token=abc") {
				t.Errorf("a secret reached the line: %s", got)
			}
		})
	}
}

// FuzzAccessLineAsRecord: any fields come out as slog writes them.
func FuzzAccessLineAsRecord(f *testing.F) {
	f.Add("/a", "ua", "q=1", "bob", "192.0.2.1", 0.5, int64(3), int64(200))
	f.Add("/a&code=1", "\xff\"\\\x00", "", "", "", 1e-7, int64(-1), int64(0))
	f.Add("", "?state=x", "code=2", "\u2028", "fe80::1%eth0", 1e21, int64(1e9), int64(-3))
	f.Fuzz(func(t *testing.T, path, ua, query, user, ip string, d float64, ns, n int64) {
		l := plainLine()
		l.Path, l.UserAgent, l.Query, l.User, l.DurationMS, l.Size, l.Status = path, ua, query, user, d, n, int(n%1000)
		l.ClientIP, _ = netip.ParseAddr(ip)
		l.Time = time.Unix(1795571480, ns%1e9).In(time.FixedZone("", int(n%50000)))
		if got, want := func() string { s, _ := shipped(l); return s }(), asSlog(t, l); got != want {
			t.Errorf("shipped handler wrote\n%s\nslog writes\n%s", got, want)
		}
	})
}

// TestAccessLineFromTheBinary: a request the client shapes (an escaped
// path, a secret in the query, a quote, a tab and a backslash in
// User-Agent)
// gives the access line an operator reads, from the outpost as shipped.
func TestAccessLineFromTheBinary(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "providers.yaml")
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__HTTPS=" + freeAddr(t),
		"AUTHENTIK_LISTEN__METRICS=" + metricsAddr}, "--config", cfg)
	p.waitFor(t, "configuration in force", 30*time.Second)
	waitHTTP(t, "http://"+metricsAddr+"/outpost.goauthentik.io/ping")

	conn, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const ua = "probe \"quoted\"\t\\ line-marker-7f3a"
	if _, err := io.WriteString(conn, "POST /caf%C3%A9/x?code=hunter2&n=1 HTTP/1.1\r\nHost: prom.test\r\n"+
		"User-Agent: "+ua+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	p.waitOutput(t, "line-marker-7f3a", 5*time.Second)
	var line map[string]any
	for _, l := range strings.Split(p.output(), "\n") {
		if strings.Contains(l, "line-marker-7f3a") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("the access line is not JSON: %v\n%s", err, l)
			}
			if strings.Contains(l, "hunter2") {
				t.Errorf("the secret query value reached the line: %s", l)
			}
		}
	}
	want := map[string]any{
		"level": "INFO", "msg": "request", "client_ip": "127.0.0.1", "host": "prom.test", "scheme": "http",
		"method": "POST", "path": "/caf%C3%A9/x", "query": "code=[redacted]&n=1", "status": float64(resp.StatusCode),
		"user_agent": ua, "provider": "prom", "decision": "unauthorized",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %#v, want %#v (line %v)", k, line[k], v, line)
		}
	}
	if id, _ := line["request_id"].(string); id != resp.Header.Get("X-Request-Id") || id == "" {
		t.Errorf("request_id %q, the response's X-Request-Id %q", id, resp.Header.Get("X-Request-Id"))
	}
}
