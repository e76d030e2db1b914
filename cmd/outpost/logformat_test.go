package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

// Every level is named as authentik names it, and the format redacts
// like the default one.
func TestAuthentikFormatLevelsAndRedaction(t *testing.T) {
	cases := []struct {
		level slog.Level
		want  string
	}{
		{levelTrace, "trace"}, {slog.LevelDebug, "debug"}, {slog.LevelInfo, "info"},
		{slog.LevelWarn, "warning"}, {slog.LevelError, "error"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			var buf bytes.Buffer
			lv := new(slog.LevelVar)
			lv.Set(levelTrace)
			log := newFormatLogger(&buf, "authentik", false, lv)
			log.Log(context.Background(), tc.level, "signed in", "token", "s3cret", "url", "/cb?code=abc&x=1")
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("%v: %q", err, buf.String())
			}
			want := map[string]any{"level": tc.want, "event": "signed in", "logger": "authentik.outpost",
				"token": "[redacted]", "url": "/cb?code=[redacted]&x=1"}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, line[k], v, buf.String())
				}
			}
			if _, ok := line["timestamp"]; !ok {
				t.Errorf("no timestamp: %s", buf.String())
			}
		})
	}
}
