package main

import (
	"io"
	"log/slog"

	"github.com/outpost-dev/outpost/internal/config"
)

// authentikLogger is the "logger" value of every line in authentik's
// format: the outpost's part of authentik's logger names.
const authentikLogger = "authentik.outpost"

// newFormatLogger is newLogger under AUTHENTIK_LOG__FORMAT: a format asked
// for by name wins over the terminal test and AUTHENTIK_DEBUG; unset, the
// choice stays newLogger's.
func newFormatLogger(w io.Writer, format string, text bool, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redactAttr}
	switch format {
	case config.LogFormatText:
		return slog.New(slog.NewTextHandler(w, opts))
	case config.LogFormatJSON:
		return slog.New(newLineHandler(w, opts))
	case config.LogFormatAuthentik:
		opts.ReplaceAttr = authentikAttr
		return slog.New(slog.NewJSONHandler(&lockedWriter{w: w}, opts)).With("logger", authentikLogger)
	}
	return newLogger(w, text, level)
}

// authentikAttr writes slog's built-in keys under authentik's names
// (event, timestamp, a lower-case level as authentik spells it), and
// redacts like every other format. Lines in this format take slog's own
// JSON path, not lineHandler's quicker one.
func authentikAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey:
			a.Key = "timestamp"
			return a
		case slog.MessageKey:
			a.Key = "event"
			return a
		case slog.LevelKey:
			if l, ok := a.Value.Any().(slog.Level); ok {
				return slog.String("level", authentikLevel(l))
			}
		}
	}
	return redactAttr(groups, a)
}

// authentikLevel names l as authentik's logs do: trace, debug, info,
// warning, error.
func authentikLevel(l slog.Level) string {
	switch {
	case l <= levelTrace:
		return "trace"
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warning"
	}
	return "error"
}
