package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
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
	opts := &slog.HandlerOptions{Level: level}
	if text || isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
