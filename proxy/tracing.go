package proxy

// Traces (docs/tracing.md): the spans of one request through the outpost
// and the W3C trace context it carries to the upstream and the identity
// provider. Everything here runs only with a tracer (Options.Tracer); with
// none, each caller's nil check is all tracing costs a request.

import (
	"context"
	"errors"
	"net/http"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/session"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Span names are fixed: never a path, a host or anything a client chose.
const (
	spanRequest      = "outpost.request"
	spanDecide       = "outpost.decide"
	spanRefresh      = "outpost.token_refresh"
	spanCredential   = "outpost.credential_check"
	spanIntrospect   = "outpost.introspect"
	spanUpstream     = "outpost.upstream"
	spanSessionGet   = "outpost.session.get"
	spanSessionSave  = "outpost.session.save"
	spanSessionLock  = "outpost.session.lock"
	spanSessionDel   = "outpost.session.delete"
	spanSessionSaveX = "outpost.session.save_if_exists"
)

// Attribute keys: OpenTelemetry's HTTP names where one exists, the
// outpost's own under "outpost.". None carries a token, a cookie, an
// Authorization header, a path or a query.
const (
	attrMethod     = "http.request.method"
	attrStatus     = "http.response.status_code"
	attrScheme     = "url.scheme"
	attrHost       = "server.address"
	attrRoute      = "outpost.route"
	attrProvider   = "outpost.provider"
	attrDecision   = "outpost.decision"
	attrAuthMethod = "outpost.auth_method"
	attrOutcome    = "outpost.outcome"
	attrErrorType  = "error.type"
)

// traceContext is the W3C Trace Context propagator (traceparent,
// tracestate): the only format read and written.
var traceContext propagation.TraceContext

// Route kinds of attrRoute besides metrics.KindApp and KindStatic.
const routeForwardAuth = "forward_auth"

// startRequest starts the request's span and returns its context. A
// trusted peer's traceparent is continued; anyone else's, and their
// tracestate, are removed and the span starts a trace of its own, so a
// client can neither join a trace nor choose a trace id an upstream
// trusts. Both headers are removed either way: the upstream gets the
// outpost's (Rewrite).
func (s *Server) startRequest(r *http.Request, info *requestInfo) context.Context {
	ctx := r.Context()
	if info.origin.Trusted {
		ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	delete(r.Header, "Traceparent")
	delete(r.Header, "Tracestate")
	ctx, info.span = s.tracer.Start(ctx, spanRequest, trace.WithSpanKind(trace.SpanKindServer))
	return ctx
}

// endRequest ends the request's span with what the access line says of
// it, less the path and the person.
func endRequest(info *requestInfo, method, kind string, status int) {
	sp := info.span
	if sp.IsRecording() {
		if info.original != nil {
			kind = routeForwardAuth
		}
		sp.SetAttributes(
			attribute.String(attrMethod, metrics.Method(method)),
			attribute.String(attrScheme, info.origin.Scheme),
			attribute.String(attrHost, info.origin.Host),
			attribute.String(attrRoute, kind),
			attribute.Int(attrStatus, status),
		)
		for _, a := range [...]struct{ k, v string }{
			{attrProvider, info.provider}, {attrDecision, info.result}, {attrAuthMethod, info.method},
		} {
			if a.v != "" {
				sp.SetAttributes(attribute.String(a.k, a.v))
			}
		}
		if status >= 500 {
			sp.SetStatus(codes.Error, "")
		}
	}
	sp.End()
}

// childSpan starts name under the span in ctx when that one records;
// otherwise (tracing off, or the trace not sampled) it returns ctx and
// nil, and the caller skips the span.
func childSpan(tr trace.Tracer, ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if tr == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	return tr.Start(ctx, name, trace.WithSpanKind(kind))
}

// startSpan is childSpan for a request: r with the span's context.
func (a *application) startSpan(r *http.Request, name string) (*http.Request, trace.Span) {
	ctx, sp := childSpan(a.tracer, r.Context(), name, trace.SpanKindInternal)
	if sp == nil {
		return r, nil
	}
	return r.WithContext(ctx), sp
}

// endSpan ends sp (nil: no span) with outcome, failed if err is set.
func endSpan(sp trace.Span, outcome string, err error) {
	if sp == nil {
		return
	}
	sp.SetAttributes(attribute.String(attrOutcome, outcome))
	if err != nil {
		sp.SetStatus(codes.Error, "")
	}
	sp.End()
}

// endDecide ends the decision's span with the decision logDecision noted
// (err: the session store could not answer).
func endDecide(sp trace.Span, r *http.Request, err error) {
	if sp == nil {
		return
	}
	if info := infoOf(r); info != nil && info.result != "" {
		sp.SetAttributes(attribute.String(attrDecision, info.result), attribute.String(attrAuthMethod, info.method))
	}
	endSpan(sp, outcomeOf(err), err)
}

// endRefresh ends the token refresh's span: refreshed (or still valid),
// the session ended, or the identity provider or store unavailable.
func endRefresh(sp trace.Span, fresh *session.Session, err error) {
	if sp == nil {
		return
	}
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "unavailable"
	case fresh == nil:
		outcome = "session_ended"
	}
	endSpan(sp, outcome, err)
}

// endCredential ends a credential check's span: verified, rejected by
// the identity provider, or not checked (it could not answer).
func endCredential(sp trace.Span, err error) {
	if sp == nil {
		return
	}
	outcome := "verified"
	switch {
	case errors.Is(err, errRejected):
		outcome, err = "rejected", nil // the provider answered: no failure of the outpost
	case err != nil:
		outcome = "error"
	}
	endSpan(sp, outcome, err)
}

func outcomeOf(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// injectTrace sets the trace context of ctx (the outpost's span) in h.
func injectTrace(ctx context.Context, h http.Header) {
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
}

// traceHeaderRoom is traceparent and tracestate, in the upstream
// request's header map.
const traceHeaderRoom = 2

// serveTraced proxies r under a client span of its own (when the request's
// span records): Rewrite injects it as the upstream's parent.
func (u *upstreamProxy) serveTraced(w http.ResponseWriter, r *http.Request, t upstreamTarget) {
	ctx, sp := childSpan(u.tracer, r.Context(), spanUpstream, trace.SpanKindClient)
	if sp == nil {
		u.rp.ServeHTTP(w, r)
		return
	}
	method, _ := requested(r)
	sp.SetAttributes(attribute.String(attrMethod, metrics.Method(method)), attribute.String(attrHost, t.upstreamHostLabel()))
	u.rp.ServeHTTP(w, r.WithContext(ctx))
	sp.End()
}

// upstreamAnswered notes the upstream's status on the upstream span of r
// (the outgoing request).
func upstreamAnswered(r *http.Request, status int) {
	if sp := trace.SpanFromContext(r.Context()); sp.IsRecording() {
		sp.SetAttributes(attribute.Int(attrStatus, status))
		if status >= 500 {
			sp.SetStatus(codes.Error, "")
		}
	}
}

// upstreamFailed notes that the upstream could not be reached, and how
// (upstreamErrorKind: a few fixed words).
func upstreamFailed(r *http.Request, kind string) {
	if sp := trace.SpanFromContext(r.Context()); sp.IsRecording() {
		sp.SetAttributes(attribute.String(attrErrorType, kind))
		sp.SetStatus(codes.Error, "")
	}
}
