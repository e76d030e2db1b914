package proxy

// The access log: what the outpost learns about a request as it handles it
// (requestInfo, filled by the server and the decision), the status and
// size of its response, and the one line written from them at the end.

import (
	"bufio"
	"context"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/metrics"
	"go.opentelemetry.io/otel/trace"
)

// requestInfo is what the outpost learns about one request as it handles
// it: the access log line and the metrics are written from it at the end.
type requestInfo struct {
	origin origin
	id     string
	// idLine is id as a header's values, for the response and the
	// upstream request to share (no slice of their own).
	idLine [1]string
	// newID: id is the outpost's own, not a trusted proxy's; the upstream
	// request carries it (Rewrite).
	newID bool
	// target is where the request is proxied, once proxied is set
	// (upstreamProxy.serve). Held here, not pointed to: the record is
	// allocated anyway, the target then is not.
	target  upstreamTarget
	proxied bool
	// Set once a provider handles the request.
	provider string
	// Set by the decision: result and method are metric label words,
	// user is preferred_username or sub.
	result string
	method string
	user   string
	// original is the request a forward-auth request asks about: the
	// access line names its method and URL, not the auth endpoint's.
	original *forwardRequest
	// span is the request's span (tracing.go); nil with tracing off.
	span trace.Span
}

type requestInfoKey struct{}

// requested is the method and escaped path a decision is about: the
// original request's for forward auth, else the request's own.
func requested(r *http.Request) (method, path string) {
	return infoOf(r).requested(r)
}

// requested is requested for a request whose record is info (nil outside
// the server).
func (info *requestInfo) requested(r *http.Request) (method, path string) {
	if info == nil || info.original == nil {
		return r.Method, r.URL.EscapedPath()
	}
	o := info.original
	method = r.Method
	if o.known {
		method = o.method
	}
	return method, o.url.EscapedPath()
}

// infoOf is the request's record, or nil outside the server.
func infoOf(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return info
}

func withInfo(r *http.Request, info *requestInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
}

// newRequestID is 16 hex digits; it names a request in logs and pages, so
// it need not be unguessable.
func newRequestID() string {
	var raw [8]byte
	v := rand.Uint64()
	for i := range raw {
		raw[i] = byte(v >> (8 * i))
	}
	var id [16]byte
	hex.Encode(id[:], raw[:])
	return string(id[:])
}

// validRequestID accepts an X-Request-Id from a trusted proxy only when it
// is short and plain, so it can be logged and echoed as it is.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// responseRecorder notes the status and size of a response for the access
// log and metrics. It passes Flush and Hijack through, so streams and
// websockets behave as without it.
type responseRecorder struct {
	http.ResponseWriter
	status   int
	size     int64
	hijacked bool
}

func (rr *responseRecorder) WriteHeader(code int) {
	// 1xx are interim; the final status comes later.
	if rr.status == 0 && code >= 200 {
		rr.status = code
	}
	rr.ResponseWriter.WriteHeader(code)
}

func (rr *responseRecorder) Write(b []byte) (int, error) {
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	n, err := rr.ResponseWriter.Write(b)
	rr.size += int64(n)
	return n, err
}

func (rr *responseRecorder) Flush() {
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	_ = http.NewResponseController(rr.ResponseWriter).Flush()
}

func (rr *responseRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(rr.ResponseWriter).Hijack()
	if err == nil {
		rr.hijacked = true
	}
	return conn, brw, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (rr *responseRecorder) Unwrap() http.ResponseWriter { return rr.ResponseWriter }

// statusCode is the status the client got: 101 for a hijacked (upgraded)
// connection, 200 when the handler wrote nothing.
func (rr *responseRecorder) statusCode() int {
	switch {
	case rr.status != 0:
		return rr.status
	case rr.hijacked:
		return http.StatusSwitchingProtocols
	}
	return http.StatusOK
}

// AccessLine is one request's access line, field by field. Fields left
// empty are left out of the line (TraceID, Query, ForwardAuth and the four
// of the decision).
type AccessLine struct {
	Time                                      time.Time
	RequestID, TraceID                        string
	ClientIP                                  netip.Addr
	Host, Scheme, Method, Path, Query         string
	ForwardAuth                               string
	Status                                    int
	Size                                      int64
	DurationMS                                float64
	UserAgent, Provider, Decision, AuthMethod string
	User                                      string
}

// AccessWriter is a log handler that writes an access line from its
// fields, without a slog.Record: building the record and encoding its
// attributes cost about three times what writing the fields does
// (BenchmarkLogAccess, BenchmarkAccessLine; docs/performance.md).
// WriteAccess reports false when it leaves the line to Handle (the line
// then goes as Record builds it); the bytes must be the same either way.
type AccessWriter interface {
	WriteAccess(ctx context.Context, l AccessLine) bool
}

// Record is the line as a slog record, at level info, message "request".
func (l AccessLine) Record() slog.Record {
	attrs := make([]slog.Attr, 0, 18)
	attrs = append(attrs, slog.String("request_id", l.RequestID))
	if l.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", l.TraceID))
	}
	attrs = append(attrs,
		slog.String("client_ip", addrString(l.ClientIP)),
		slog.String("host", l.Host),
		slog.String("scheme", l.Scheme),
		slog.String("method", l.Method),
		slog.String("path", l.Path),
	)
	if l.Query != "" {
		attrs = append(attrs, slog.String("query", l.Query))
	}
	if l.ForwardAuth != "" {
		attrs = append(attrs, slog.String("forward_auth", l.ForwardAuth))
	}
	attrs = append(attrs,
		slog.Int("status", l.Status),
		slog.Int64("size", l.Size),
		slog.Float64("duration_ms", l.DurationMS),
		slog.String("user_agent", l.UserAgent),
	)
	for _, a := range [...]struct{ k, v string }{
		{"provider", l.Provider}, {"decision", l.Decision}, {"auth_method", l.AuthMethod}, {"user", l.User},
	} {
		if a.v != "" {
			attrs = append(attrs, slog.String(a.k, a.v))
		}
	}
	rec := slog.NewRecord(l.Time, slog.LevelInfo, "request", 0)
	rec.AddAttrs(attrs...)
	return rec
}

// logAccess writes the one access line of a request. It names the person
// and the decision but never carries a cookie, a token or a secret query
// value.
func (s *Server) logAccess(r *http.Request, info *requestInfo, resp *responseRecorder, start time.Time, took time.Duration) {
	if !s.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	host, scheme, u := info.origin.Host, info.origin.Scheme, r.URL
	method, _ := info.requested(r)
	forwardAuth := ""
	if o := info.original; o != nil {
		// A forward-auth decision is about the original request: its
		// line reads like proxy mode's, with the endpoint that asked.
		host, scheme, u = o.url.Host, o.url.Scheme, o.url
		forwardAuth = r.URL.Path
	}
	l := AccessLine{
		// The request's end, already known.
		Time:      start.Add(took),
		RequestID: info.id,
		ClientIP:  info.origin.ClientIP,
		Host:      host, Scheme: scheme, Method: method, Path: u.EscapedPath(),
		ForwardAuth: forwardAuth,
		Status:      resp.statusCode(), Size: resp.size,
		DurationMS: float64(took.Microseconds()) / 1000,
		UserAgent:  r.UserAgent(),
		Provider:   info.provider, Decision: info.result, AuthMethod: info.method, User: info.user,
	}
	if u.RawQuery != "" {
		l.Query = redactQuery(u.RawQuery)
	}
	if info.span != nil {
		// Only a sampled trace is exported: any other id would name
		// nothing a trace backend has.
		if sc := info.span.SpanContext(); sc.IsSampled() {
			l.TraceID = sc.TraceID().String()
		}
	}
	h := s.log.Handler()
	if aw, ok := h.(AccessWriter); ok && aw.WriteAccess(r.Context(), l) {
		return
	}
	// Handled here rather than by Logger.LogAttrs, which walks the stack
	// for a source location no access line carries.
	_ = h.Handle(r.Context(), l.Record())
}

// logDecision notes the decision in the request's access line (the
// requestInfo logAccess writes at the end) and in the decision metric, a
// refusal by the rules also in a log line naming the rule, and returns it.
func (a *application) logDecision(r *http.Request, id identity, v verdict) decision {
	s, d := id.session, v.decision
	result, method := metrics.ResultAllowed, metrics.MethodNone
	switch d {
	case allowIdentified:
		method = id.method
	case allowAnonymous:
		method = metrics.MethodSkipped
	case refuseUnauthorized, refuseLimited:
		result = metrics.ResultUnauthorized
	case startSignIn:
		result = metrics.ResultLoginRedirect
	case startStepUp:
		result = metrics.ResultLoginRedirect
		a.logStepUp(r, s, v)
	case refuseStepUp:
		result = metrics.ResultUnauthorized
		a.logStepUp(r, s, v)
	case refuseForbidden:
		result, method = metrics.ResultDenied, id.method
		method0, path0 := requested(r)
		a.log.Warn("access denied by the provider's rules", "provider", a.provider.Name, "user", userName(s.Claims),
			"rule", v.denial.Rule, "reason", v.denial.Reason, "method", method0, "path", path0,
			"client_ip", clientIPString(originOf(r)), "request_id", requestID(r))
	}
	a.metrics.Decision(result, method)
	if info := infoOf(r); info != nil {
		info.result, info.method = result, method
		if s != nil {
			info.user = userName(s.Claims)
		}
	}
	return d
}

// userName is how logs name a person: preferred_username, else sub.
func userName(claims map[string]any) string {
	if u, _ := claims["preferred_username"].(string); u != "" {
		return u
	}
	s, _ := claims["sub"].(string)
	return s
}

func clientIPString(o origin) string { return addrString(o.ClientIP) }

// addrString is a's text, "" for the zero address (which String names
// "invalid IP").
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// SecretQueryParams are the query parameters whose values never reach a
// log: the access log redacts them here, the process's log handler
// everywhere else.
var SecretQueryParams = []string{
	"code", "state", "token", "access_token", "id_token", "refresh_token", "id_token_hint",
	"client_secret", "password", "code_verifier", "logout_token", "session_state",
}

var secretQueryParams = func() map[string]bool {
	m := make(map[string]bool, len(SecretQueryParams))
	for _, p := range SecretQueryParams {
		m[p] = true
	}
	return m
}()

// redactQuery replaces the values of secret parameters in a raw query,
// matching names case-insensitively and after unescaping.
func redactQuery(raw string) string {
	if !hasSecretParam(raw) {
		return raw // the usual case, without building a copy
	}
	var b strings.Builder
	for i, part := range strings.Split(raw, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		name, _, hasValue := strings.Cut(part, "=")
		if hasValue && isSecretParam(name) {
			b.WriteString(name)
			b.WriteString("=[redacted]")
			continue
		}
		b.WriteString(part)
	}
	return b.String()
}

func hasSecretParam(raw string) bool {
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if name, _, ok := strings.Cut(part, "="); ok && isSecretParam(name) {
			return true
		}
	}
	return false
}

func isSecretParam(name string) bool {
	if secretQueryParams[strings.ToLower(name)] {
		return true
	}
	// An escaped name (st%61te) is still the same parameter to the server.
	if strings.ContainsAny(name, "%+") {
		if u, err := url.QueryUnescape(name); err == nil {
			return secretQueryParams[strings.ToLower(u)]
		}
		return true // unparseable: assume the worst
	}
	return false
}
