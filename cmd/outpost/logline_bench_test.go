package main

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/proxy"
)

// BenchmarkAccessLine is one access line as proxy mode writes it, through
// the shipped handler: direct from its fields (WriteAccess), record from
// the slog record (the way of every other handler, and of this one before
// WriteAccess). The writer is io.Discard: the log buffer's own cost is a
// copy under a lock, and its goroutine's writes are not the request's.
func BenchmarkAccessLine(b *testing.B) {
	for _, c := range []struct {
		name   string
		direct bool
	}{{"record", false}, {"direct", true}} {
		b.Run(c.name, func(b *testing.B) {
			h := newLineHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: redactAttr})
			l := proxy.AccessLine{
				Time: time.Now(), RequestID: "0123456789abcdef", ClientIP: netip.MustParseAddr("127.0.0.1"),
				Host: "app.example.com", Scheme: "https", Method: "GET", Path: "/api/v1/query", Status: 200, Size: 2,
				DurationMS: 0.412, UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
				Provider: "app", Decision: "allowed", AuthMethod: "session", User: "akadmin",
			}
			b.ReportAllocs()
			for b.Loop() {
				if c.direct {
					if !h.WriteAccess(b.Context(), l) {
						b.Fatal("declined")
					}
					continue
				}
				_ = h.Handle(b.Context(), l.Record())
			}
		})
	}
}
