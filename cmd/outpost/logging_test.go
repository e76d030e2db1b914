package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLogsRedactSecrets(t *testing.T) {
	for _, text := range []bool{false, true} {
		t.Run("text="+strconv.FormatBool(text), func(t *testing.T) {
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
		})
	}
}

// The level, handed over as a string by redactAttr, reads exactly as slog
// writes it without the hook, in both formats and at every level.
func TestLogLevelAsSlogWritesIt(t *testing.T) {
	for _, l := range []slog.Level{levelTrace, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError, slog.LevelError + 2} {
		t.Run(l.String(), func(t *testing.T) {
			for _, text := range []bool{false, true} {
				var ours, plain bytes.Buffer
				opts := &slog.HandlerOptions{Level: levelTrace}
				var ref *slog.Logger
				if text {
					ref = slog.New(slog.NewTextHandler(&plain, opts))
				} else {
					ref = slog.New(slog.NewJSONHandler(&plain, opts))
				}
				lv := new(slog.LevelVar)
				lv.Set(levelTrace)
				log := newLogger(&ours, text, lv)
				at := time.Date(2026, 11, 25, 1, 2, 3, 4, time.UTC)
				for _, lg := range []*slog.Logger{log, ref} {
					r := slog.NewRecord(at, l, "hello", 0)
					r.AddAttrs(slog.String("user", "alice"), slog.Group("g", slog.Any("level", l)))
					_ = lg.Handler().Handle(context.Background(), r)
				}
				if ours.String() != plain.String() {
					t.Errorf("text=%v level %v:\n ours  %s plain %s", text, l, ours.String(), plain.String())
				}
			}
		})
	}
}

func TestSecretKeysInAnyCase(t *testing.T) {
	for _, k := range []string{"cookie", "Cookie", "SET-COOKIE", "Set_Cookie", "x-authentik-jwt", "X-Authentik-JWT", "id_token_hint", "Id-Token-Hint"} {
		t.Run(k, func(t *testing.T) {
			if !secretKey(k) {
				t.Errorf("%q is not taken for secret", k)
			}
		})
	}
	for _, k := range []string{"user", "path", "cookies", "token_type", "Set-Cookie2", "", "ℂookie"} {
		t.Run(k, func(t *testing.T) {
			if secretKey(k) {
				t.Errorf("%q is taken for secret", k)
			}
		})
	}
}

// The quick check in front of the expression never skips a string the
// expression would change.
func FuzzRedactAttr(f *testing.F) {
	for _, s := range []string{"/cb?code=abc&state=xyz", "a&TOKEN=1", "?x=1&y=2", "&to\u212Aen=1", "&code", "&code=", "?Id_Token_Hint=eyJ", "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		want := secretQueryParams.ReplaceAllString(v, "${1}"+redacted)
		if got := redactAttr(nil, slog.String("msg", v)).Value.String(); got != want {
			t.Fatalf("%q: logged %q, want %q", v, got, want)
		}
	})
}

// /dev/null is a character device, not a terminal: logs sent there (or to
// any file or pipe) are JSON.
func TestLogFormatIsJSONUnlessATerminal(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if isTerminal(devnull) {
		t.Error("/dev/null taken for a terminal")
	}
	if _, ok := newLogger(devnull, false, new(slog.LevelVar)).Handler().(*lineHandler); !ok {
		t.Error("logs to /dev/null are not JSON")
	}
}
