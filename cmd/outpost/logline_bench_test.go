package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAccessLine is one access line as proxy mode writes it, through
// the shipped handler and the log buffer to a real file: the cost a
// request pays for its line with the log on.
func BenchmarkAccessLine(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "access.log"))
	if err != nil {
		b.Fatal(err)
	}
	buf := newLogBuffer(f)
	b.Cleanup(func() { _ = buf.Close(); _ = f.Close() })
	for _, c := range []struct {
		name string
		w    io.Writer
	}{{"buffered_file", buf}, {"discard", io.Discard}} {
		b.Run(c.name, func(b *testing.B) {
			log := slog.New(newLineHandler(c.w, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: redactAttr}))
			start := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				rec := slog.NewRecord(start, slog.LevelInfo, "request", 0)
				rec.AddAttrs(
					slog.String("request_id", "0123456789abcdef"),
					slog.String("client_ip", "127.0.0.1"),
					slog.String("host", "app.example.com"),
					slog.String("scheme", "https"),
					slog.String("method", "GET"),
					slog.String("path", "/api/v1/query"),
					slog.Int("status", 200),
					slog.Int64("size", 2),
					slog.Float64("duration_ms", 0.412),
					slog.String("user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"),
					slog.String("provider", "app"),
					slog.String("decision", "allowed"),
					slog.String("auth_method", "session"),
					slog.String("user", "akadmin"),
				)
				_ = log.Handler().Handle(b.Context(), rec)
			}
		})
	}
}
