package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A secret-named key hides strings, which is how codes, tokens and
// passwords travel, but not numbers: a websocket close code under "code"
// or an attempt count must stay readable.
func TestRedactionKeepsNumbers(t *testing.T) {
	for _, c := range []struct {
		name string
		attr slog.Attr
		want string
	}{
		{"close code", slog.Int("code", 1006), `"code":1006`},
		{"oauth code", slog.String("code", "a1b2c3"), `"code":"[redacted]"`},
		{"numeric string", slog.String("password", "123456"), `"password":"[redacted]"`},
		{"attempt", slog.Int("attempt", 3), `"attempt":3`},
		{"flag", slog.Bool("token", true), `"token":true`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			var level slog.LevelVar
			newLogger(&buf, false, &level).LogAttrs(t.Context(), slog.LevelInfo, "x", c.attr)
			if !strings.Contains(buf.String(), c.want) {
				t.Errorf("logged %s, want %s", buf.String(), c.want)
			}
		})
	}
}
