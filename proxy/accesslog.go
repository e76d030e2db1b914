package proxy

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/metrics"
)

// logAccess writes the one access line of a request. It names the person
// and the decision but never carries a cookie, a token or a secret query
// value.
func (s *Server) logAccess(r *http.Request, info *requestInfo, resp *responseRecorder, start time.Time, took time.Duration) {
	if !s.log.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	attrs := make([]slog.Attr, 0, 17)
	host, scheme, u := info.origin.Host, info.origin.Scheme, r.URL
	method, _ := info.requested(r)
	if o := info.original; o != nil {
		// A forward-auth decision is about the original request: its
		// line reads like proxy mode's, with the endpoint that asked.
		host, scheme, u = o.url.Host, o.url.Scheme, o.url
	}
	attrs = append(attrs,
		slog.String("request_id", info.id),
		slog.String("client_ip", clientIPString(info.origin)),
		slog.String("host", host),
		slog.String("scheme", scheme),
		slog.String("method", method),
		slog.String("path", u.EscapedPath()),
	)
	if u.RawQuery != "" {
		attrs = append(attrs, slog.String("query", redactQuery(u.RawQuery)))
	}
	if info.original != nil {
		attrs = append(attrs, slog.String("forward_auth", r.URL.Path))
	}
	attrs = append(attrs,
		slog.Int("status", resp.statusCode()),
		slog.Int64("size", resp.size),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.String("user_agent", r.UserAgent()),
	)
	for _, a := range [...]struct{ k, v string }{
		{"provider", info.provider}, {"decision", info.result}, {"auth_method", info.method}, {"user", info.user},
	} {
		if a.v != "" {
			attrs = append(attrs, slog.String(a.k, a.v))
		}
	}
	// The record is built here rather than by Logger.LogAttrs, which
	// walks the stack for a source location no access line carries. Its
	// time is the request's end, already known.
	rec := slog.NewRecord(start.Add(took), slog.LevelInfo, "request", 0)
	rec.AddAttrs(attrs...)
	_ = s.log.Handler().Handle(r.Context(), rec)
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

func clientIPString(o origin) string {
	if !o.ClientIP.IsValid() {
		return ""
	}
	return o.ClientIP.String()
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
