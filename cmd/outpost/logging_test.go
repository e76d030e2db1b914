package main

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestLogsRedactSecrets(t *testing.T) {
	for _, text := range []bool{false, true} {
		var buf bytes.Buffer
		level := new(slog.LevelVar)
		level.Set(levelTrace)
		log := newLogger(&buf, text, level)
		log.Debug("request",
			"Cookie", "authentik_proxy_1234=SECRET1",
			"authorization", "Bearer SECRET2",
			"set-cookie", "a=SECRET3",
			"token", "SECRET4",
			"url", "https://app/outpost.goauthentik.io/callback?X-authentik-auth-callback=true&code=SECRET5&state=SECRET6",
			"error", errors.New(`Post "https://core/token?client_secret=SECRET7&x=1": timeout`),
			slog.Group("req", "id_token_hint", "SECRET8", "path", "/graph?q=1&state=SECRET9"),
			"user", "alice",
		)
		out := buf.String()
		for i := 1; i <= 9; i++ {
			if secret := "SECRET" + string(rune('0'+i)); strings.Contains(out, secret) {
				t.Errorf("text=%v: %s leaked:\n%s", text, secret, out)
			}
		}
		if !strings.Contains(out, "alice") || !strings.Contains(out, "X-authentik-auth-callback=true") || !strings.Contains(out, "q=1") {
			t.Errorf("text=%v: redaction removed more than secrets:\n%s", text, out)
		}
	}
}
