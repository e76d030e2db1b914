package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// lineHandler is slog's JSON handler with redactAttr, with a quicker path
// for the lines every request writes: a record whose attributes are all
// plain (strings, numbers, booleans, durations) under names that are not
// secret, with no secret query value in any string, is written here, byte
// for byte as slog would write it; any other record goes to slog. Under
// load, slog's handler cost more than the rest of answering an auth
// request: it runs ReplaceAttr on every attribute and writes floats
// through encoding/json. FuzzLineHandlerAsSlog holds the two to the same
// bytes.
type lineHandler struct {
	*slog.JSONHandler
	w *lockedWriter
}

func newLineHandler(w io.Writer, opts *slog.HandlerOptions) *lineHandler {
	lw := &lockedWriter{w: w}
	return &lineHandler{JSONHandler: slog.NewJSONHandler(lw, opts), w: lw}
}

// lockedWriter keeps the lines of both paths whole: each is one Write.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (h *lineHandler) Handle(ctx context.Context, r slog.Record) error {
	written, err := h.writeLine(func(b []byte) ([]byte, bool) { return appendLine(b, r) })
	if !written {
		return h.JSONHandler.Handle(ctx, r)
	}
	return err
}

// writeLine writes the line appendTo appends to a pooled buffer, or writes
// nothing and reports false when appendTo does.
func (h *lineHandler) writeLine(appendTo func([]byte) ([]byte, bool)) (bool, error) {
	bp := lineBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			lineBufs.Put(bp)
		}
	}()
	line, ok := appendTo((*bp)[:0])
	*bp = line
	if !ok {
		return false, nil
	}
	_, err := h.w.Write(line)
	return true, err
}

// appendLine appends r as slog's JSON handler with redactAttr writes it,
// or reports false when r is not plain enough for this path.
func appendLine(b []byte, r slog.Record) ([]byte, bool) {
	t := r.Time.Round(0)
	if y := t.Year(); r.Time.IsZero() || y < 0 || y >= 10000 || holdsSecretParam(r.Message) {
		return b, false
	}
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	b = appendJSONString(b, r.Level.String())
	b = append(b, `,"msg":`...)
	b = appendJSONString(b, r.Message)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "" || secretKey(a.Key) {
			ok = false
			return false
		}
		b = append(b, ',')
		b = appendJSONString(b, a.Key)
		b = append(b, ':')
		switch v := a.Value; v.Kind() {
		case slog.KindString:
			s := v.String()
			if holdsSecretParam(s) {
				ok = false
				return false
			}
			b = appendJSONString(b, s)
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = strconv.AppendInt(b, int64(v.Duration()), 10)
		case slog.KindFloat64:
			// encoding/json's form, in the range where it is strconv's
			// shortest 'f' form; exponents and NaN are left to slog.
			f := v.Float64()
			if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) || math.IsNaN(f) {
				ok = false
				return false
			}
			b = strconv.AppendFloat(b, f, 'f', -1, 64)
		default:
			ok = false
			return false
		}
		return true
	})
	return append(b, "}\n"...), ok
}

// holdsSecretParam is whether redactAttr would change s.
func holdsSecretParam(s string) bool {
	return mayHoldSecretParam(s) && secretQueryParams.MatchString(s)
}

// appendJSONString appends s quoted as slog's JSON handler does: as
// encoding/json without HTML escaping, but with \u00XX for control
// characters other than \n, \r and \t.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
