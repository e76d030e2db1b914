package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/outpost-dev/outpost/proxy"
	"golang.org/x/term"
)

// levelTrace is below slog's Debug: authentik's "trace" level.
const levelTrace = slog.LevelDebug - 4

// parseLevel maps authentik's level names onto slog levels. Unknown names are
// an error here; the core's unknown values are handled by coreLevel.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace":
		return levelTrace, nil
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want trace, debug, info, warning or error)", s)
}

// coreLevel follows the reference for the core's log_level: unknown → debug.
func coreLevel(s string) slog.Level {
	l, err := parseLevel(s)
	if err != nil {
		return slog.LevelDebug
	}
	return l
}

// newLogger logs JSON, or text when asked (AUTHENTIK_DEBUG) or when stderr is
// a terminal; level is shared so the core's log_level can change it live.
func newLogger(w io.Writer, text bool, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}
	if text || isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(newLineHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	// A character device is not enough: /dev/null is one, and an outpost
	// whose log goes there must not pay for the text format.
	if b, ok := w.(*logBuffer); ok {
		w = b.out
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// secretKeys are attribute names whose values are never logged, compared
// lower case with "-" read as "_".
var secretKeys = map[string]bool{
	"cookie": true, "set_cookie": true, "authorization": true, "proxy_authorization": true,
	"token": true, "access_token": true, "id_token": true, "refresh_token": true, "id_token_hint": true,
	"client_secret": true, "cookie_secret": true, "password": true, "code": true, "code_verifier": true,
	"state": true, "x_authentik_jwt": true, "logout_token": true,
}

// secretQueryParams are redacted inside any URL-looking value.
var secretQueryParams = regexp.MustCompile(`(?i)([?&](?:` + strings.Join(proxy.SecretQueryParams, "|") + `)=)[^&#\s"]*`)

const redacted = "[redacted]"

// redactAttr keeps secrets out of every log line at every level: values of
// secret-named attributes, and secret query values inside any string.
func redactAttr(groups []string, a slog.Attr) slog.Attr {
	if secretKey(a.Key) && !plainNumber(a.Value) {
		return slog.String(a.Key, redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if v := a.Value.String(); mayHoldSecretParam(v) {
			return slog.String(a.Key, secretQueryParams.ReplaceAllString(v, "${1}"+redacted))
		}
	case slog.KindAny:
		// A handler with ReplaceAttr hands over the level as a value that
		// the JSON handler writes through encoding/json; as a string it is
		// the same text at a fraction of the cost, on every line.
		if l, ok := a.Value.Any().(slog.Level); ok && a.Key == slog.LevelKey && len(groups) == 0 {
			return slog.String(a.Key, l.String())
		}
		if err, ok := a.Value.Any().(error); ok && mayHoldSecretParam(err.Error()) {
			return slog.String(a.Key, secretQueryParams.ReplaceAllString(err.Error(), "${1}"+redacted))
		}
	}
	return a
}

// plainNumber is a value no secret is written as: an OAuth code, a token
// or a password is a string, while a websocket close code under "code" is
// a number an operator needs.
func plainNumber(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindDuration:
		return true
	}
	return false
}

// secretKey reports whether values under key are never logged. Keys are
// nearly always lower case already: only the others are folded.
func secretKey(key string) bool {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c == '-' || c >= 'A' && c <= 'Z' || c >= utf8.RuneSelf {
			return secretKeys[strings.ReplaceAll(strings.ToLower(key), "-", "_")]
		}
	}
	return secretKeys[key]
}

// mayHoldSecretParam is false when secretQueryParams cannot match v: no
// "?" or "&" followed by a secret name and "=" (ASCII, any case). It spares
// every log line's strings the regular expression, which cost more than
// the rest of writing an access line. Anything non-ASCII takes the
// expression: case folding there is Unicode's.
func mayHoldSecretParam(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= utf8.RuneSelf {
			return true
		}
		if c != '?' && c != '&' {
			continue
		}
		for _, name := range proxy.SecretQueryParams {
			if rest := v[i+1:]; len(rest) > len(name) && rest[len(name)] == '=' && strings.EqualFold(rest[:len(name)], name) {
				return true
			}
		}
	}
	return false
}
