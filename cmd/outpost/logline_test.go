package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

// lineRecord is a record of the kinds of attribute an access line has,
// and others.
func lineRecord(at time.Time, msg, key, s string, f float64, i int64, extra ...slog.Attr) slog.Record {
	r := slog.NewRecord(at, slog.LevelInfo, msg, 0)
	r.AddAttrs(slog.String("request_id", "0123"), slog.String(key, s), slog.Int64("status", i), slog.Float64("duration_ms", f),
		slog.Bool("ok", i%2 == 0), slog.Uint64("size", uint64(i)&0xffff), slog.Duration("took", time.Duration(i)))
	r.AddAttrs(extra...)
	return r
}

// checkAsSlog writes r through lineHandler and through slog's own JSON
// handler with redactAttr, and fails unless the bytes are the same. It
// reports whether the quick path wrote it.
func checkAsSlog(t *testing.T, r slog.Record) (quick bool) {
	t.Helper()
	opts := &slog.HandlerOptions{Level: levelTrace, ReplaceAttr: redactAttr}
	var ours, theirs bytes.Buffer
	if err := newLineHandler(&ours, opts).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := slog.NewJSONHandler(&theirs, opts).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if ours.String() != theirs.String() {
		t.Fatalf("lineHandler wrote\n%s\nslog writes\n%s", ours.String(), theirs.String())
	}
	_, quick = appendLine(nil, r)
	return quick
}

// The quick path writes what slog writes: strings of every kind (quotes,
// control characters, HTML, invalid UTF-8, line separators), numbers at
// the edges of encoding/json's float forms, times in any zone, levels of
// any name; and it leaves to slog what it does not write itself.
func TestLineHandlerAsSlog(t *testing.T) {
	at := time.Date(2026, 11, 25, 3, 4, 5, 678900000, time.UTC)
	zone := time.FixedZone("X", -(3*3600 + 1800))
	quick := []slog.Record{
		lineRecord(at, "request", "path", "/a?b=1&c=2", 1.5, 200),
		lineRecord(at.In(zone), "request", "user_agent", `Mozilla "quoted" \ back <b>&amp;</b>`, 0, 404),
		lineRecord(at, "request", "path", "tab\tnew\nline\rret\x00\x01\x1f\x7f", 0.001, -1),
		lineRecord(at, "request", "name", "caf\u00e9 \u2028 \u2029 \U0001F600 \xff\xfe bad", 1e-6, 1<<62),
		lineRecord(at, "msg \"with\" quotes", "k", "", 999999999999999999999.0/1e1, 3),
		lineRecord(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "request", "k", "v", -0.25, 0),
		lineRecord(at, "request", "k", "v", math.Copysign(0, -1), 0),
	}
	for i, r := range quick {
		if !checkAsSlog(t, r) {
			t.Errorf("record %d: not written by the quick path", i)
		}
	}
	for _, l := range []slog.Level{levelTrace, slog.LevelDebug, slog.LevelWarn, slog.LevelError + 2} {
		t.Run(l.String(), func(t *testing.T) {
			r := lineRecord(at, "request", "k", "v", 2, 1)
			r.Level = l
			if !checkAsSlog(t, r) {
				t.Errorf("level %v: not written by the quick path", l)
			}
		})
	}
	slow := map[string]slog.Record{
		"zero time":           lineRecord(time.Time{}, "request", "k", "v", 1, 1),
		"year 10000":          lineRecord(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "request", "k", "v", 1, 1),
		"secret key":          lineRecord(at, "request", "Authorization", "Bearer x", 1, 1),
		"secret query":        lineRecord(at, "request", "path", "/cb?code=secret&state=s", 1, 1),
		"secret in message":   lineRecord(at, "GET /cb?code=secret", "k", "v", 1, 1),
		"float exponent":      lineRecord(at, "request", "k", "v", 1e21, 1),
		"small float":         lineRecord(at, "request", "k", "v", 1e-7, 1),
		"NaN":                 lineRecord(at, "request", "k", "v", math.NaN(), 1),
		"infinity":            lineRecord(at, "request", "k", "v", math.Inf(1), 1),
		"empty key":           lineRecord(at, "request", "", "v", 1, 1),
		"error value":         lineRecord(at, "request", "k", "v", 1, 1, slog.Any("error", errors.New("boom"))),
		"group":               lineRecord(at, "request", "k", "v", 1, 1, slog.Group("g", "a", 1)),
		"time value":          lineRecord(at, "request", "k", "v", 1, 1, slog.Time("at", at)),
		"level as an attr":    lineRecord(at, "request", "k", "v", 1, 1, slog.Any("level", slog.LevelWarn)),
		"secret in later one": lineRecord(at, "request", "k", "v", 1, 1, slog.String("token", "abc")),
	}
	for name, r := range slow {
		t.Run(name, func(t *testing.T) {
			if checkAsSlog(t, r) {
				t.Errorf("%s: written by the quick path", name)
			}
		})
	}
}

// Lines from both paths, from many goroutines, come out whole.
func TestLineHandlerLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newLineHandler(&buf, &slog.HandlerOptions{ReplaceAttr: redactAttr}))
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				if g%2 == 0 {
					log.Info("request", "path", strings.Repeat("p", 300), "n", i)
				} else {
					log.Info("request", "error", errors.New(strings.Repeat("e", 300)), "n", i)
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("%d lines, want 800", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"time":"`) || !strings.HasSuffix(l, "}") {
			t.Fatalf("a broken line: %.80s", l)
		}
	}
}

// FuzzLineHandlerAsSlog: any message, key, string and numbers come out as
// slog writes them.
func FuzzLineHandlerAsSlog(f *testing.F) {
	f.Add("request", "path", "/a?b=1", 1.5, int64(200), int64(0))
	f.Add("x\u2028", "user_agent", "\xff\"\\\x00<>&", 1e-6, int64(-1), int64(1))
	f.Add("", "k", "?code=1", 1e21, int64(7), int64(-123456789))
	f.Fuzz(func(t *testing.T, msg, key, s string, fl float64, i, ns int64) {
		at := time.Unix(1795571480, ns%1e9).In(time.FixedZone("", int(i%50000)))
		checkAsSlog(t, lineRecord(at, msg, key, s, fl, i))
	})
}
