package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// enabledNop is a handler that takes every record and writes nothing: what
// building the access line costs before any encoding.
type enabledNop struct{}

func (enabledNop) Enabled(context.Context, slog.Level) bool  { return true }
func (enabledNop) Handle(context.Context, slog.Record) error { return nil }
func (h enabledNop) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h enabledNop) WithGroup(string) slog.Handler           { return h }

// enabledNopWriter also takes lines as fields, as the shipped handler does.
type enabledNopWriter struct{ enabledNop }

func (enabledNopWriter) WriteAccess(context.Context, AccessLine) bool { return true }

// BenchmarkLogAccess is the access line of a signed-in proxy-mode request,
// gathered and handed to a handler that drops it: as fields (fields, what
// the shipped handler takes) or as a slog record (record).
func BenchmarkLogAccess(b *testing.B) {
	b.Run("fields", func(b *testing.B) { benchLogAccess(b, enabledNopWriter{}) })
	b.Run("record", func(b *testing.B) { benchLogAccess(b, enabledNop{}) })
}

func benchLogAccess(b *testing.B, h slog.Handler) {
	s := &Server{log: slog.New(h)}
	r := httptest.NewRequest(http.MethodGet, "https://app.example.com/api/v1/query?limit=10", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
	info := &requestInfo{origin: origin{Host: "app.example.com", Scheme: "https", ClientIP: netip.MustParseAddr("192.0.2.10")},
		id: "0123456789abcdef", provider: "app", result: "allowed", method: "session", user: "akadmin"}
	rec := &responseRecorder{ResponseWriter: httptest.NewRecorder(), status: http.StatusOK, size: 2}
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.logAccess(r, info, rec, start, 412*time.Microsecond)
	}
}
