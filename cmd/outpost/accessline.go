package main

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/outpost-dev/outpost/proxy"
)

// WriteAccess writes a request's access line straight from its fields,
// byte for byte as Handle writes l.Record() (TestAccessLineAsRecord and
// FuzzAccessLineAsRecord hold the two together). It leaves to Handle any
// line that redaction would change or whose time or duration slog writes
// in another form.
func (h *lineHandler) WriteAccess(ctx context.Context, l proxy.AccessLine) bool {
	written, _ := h.writeLine(func(b []byte) ([]byte, bool) { return appendAccessLine(b, l) })
	return written // a failed write of stderr has nowhere to be reported
}

// appendAccessLine appends l as appendLine writes l.Record(), or reports
// false. Its names are fixed and none is secret (secretKey), so only the
// values are checked.
func appendAccessLine(b []byte, l proxy.AccessLine) ([]byte, bool) {
	if l.ClientIP.Zone() != "" {
		// A zone is any text a trusted proxy sent: escaped and checked
		// on the record's way.
		return b, false
	}
	t := l.Time.Round(0)
	if y := t.Year(); l.Time.IsZero() || y < 0 || y >= 10000 {
		return b, false
	}
	if f := l.DurationMS; f != 0 && (math.Abs(f) < 1e-6 || math.Abs(f) >= 1e21) || math.IsNaN(f) {
		return b, false
	}
	for _, s := range [...]string{l.RequestID, l.TraceID, l.Host, l.Scheme, l.Method, l.Path, l.Query, l.ForwardAuth,
		l.UserAgent, l.Provider, l.Decision, l.AuthMethod, l.User} {
		if holdsSecretParam(s) {
			return b, false
		}
	}
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","request_id":`...)
	b = appendJSONString(b, l.RequestID)
	if l.TraceID != "" {
		b = append(b, `,"trace_id":`...)
		b = appendJSONString(b, l.TraceID)
	}
	b = append(b, `,"client_ip":"`...)
	b = l.ClientIP.AppendTo(b) // nothing for the zero address
	b = append(b, `","host":`...)
	b = appendJSONString(b, l.Host)
	b = append(b, `,"scheme":`...)
	b = appendJSONString(b, l.Scheme)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, l.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, l.Path)
	if l.Query != "" {
		b = append(b, `,"query":`...)
		b = appendJSONString(b, l.Query)
	}
	if l.ForwardAuth != "" {
		b = append(b, `,"forward_auth":`...)
		b = appendJSONString(b, l.ForwardAuth)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(l.Status), 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, l.Size, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, l.DurationMS, 'f', -1, 64)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, l.UserAgent)
	for _, a := range [...]struct{ k, v string }{
		{`,"provider":`, l.Provider}, {`,"decision":`, l.Decision}, {`,"auth_method":`, l.AuthMethod}, {`,"user":`, l.User},
	} {
		if a.v != "" {
			b = append(b, a.k...)
			b = appendJSONString(b, a.v)
		}
	}
	return append(b, "}\n"...), true
}
