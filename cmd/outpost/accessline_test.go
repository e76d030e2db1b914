package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
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
