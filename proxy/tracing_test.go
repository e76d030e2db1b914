package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/otlptest"
	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/tracing"
)

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent = "00f067aa0ba902b7"
	clientTP     = "00-" + clientTrace + "-" + clientParent + "-01"
	appSecret    = "app-client-secret-0123456789abcdef0123456789"
)

// startTracing exports the outpost's spans over OTLP/HTTP to recv, with the
// environment's other OTEL_* variables as env sets them.
func startTracing(t *testing.T, recv *otlptest.Receiver, env map[string]string) *tracing.Tracing {
	t.Helper()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.Endpoint)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	for k, v := range env {
		t.Setenv(k, v)
	}
	tr, err := tracing.New(context.Background(), tracing.Settings{Enabled: true, Protocol: tracing.ProtocolHTTP}, "test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Shutdown(ctx)
	})
	return tr
}

func flush(t *testing.T, tr *tracing.Tracing) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
}

// traceparentOf splits a W3C traceparent into trace id, parent id and flags.
func traceparentOf(t *testing.T, tp string) (trace, parent, flags string) {
	t.Helper()
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" || len(parts[1]) != 32 || len(parts[2]) != 16 {
		t.Fatalf("not a traceparent: %q", tp)
	}
	return parts[1], parts[2], parts[3]
}

// spanNamed is the one span of trace called name.
func spanNamed(t *testing.T, spans []otlptest.Span, trace, name string) otlptest.Span {
	t.Helper()
	var found []otlptest.Span
	for _, s := range spans {
		if s.TraceID == trace && s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans %s in trace %s; all: %v", len(found), name, trace, spanNames(spans))
	}
	return found[0]
}

func hasSpan(trace, name string) func([]otlptest.Span) bool {
	return func(spans []otlptest.Span) bool {
		return slices.ContainsFunc(spans, func(s otlptest.Span) bool { return s.TraceID == trace && s.Name == name })
	}
}

func spanNames(spans []otlptest.Span) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name+"@"+s.TraceID[:8])
	}
	return names
}

func wantParent(t *testing.T, child, parent otlptest.Span) {
	t.Helper()
	if child.ParentSpanID != parent.SpanID {
		t.Errorf("%s's parent is %q, want %s (%s)", child.Name, child.ParentSpanID, parent.Name, parent.SpanID)
	}
}

// noSecrets fails if any exported attribute holds one of secrets.
func noSecrets(t *testing.T, spans []otlptest.Span, secrets ...string) {
	t.Helper()
	for _, s := range spans {
		for k, v := range s.Attrs {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(v, secret) {
					t.Errorf("span %s attribute %s holds a secret: %q", s.Name, k, v)
				}
			}
		}
	}
}

// A signed-in browser behind a trusted proxy: its trace is continued, the
// spans form the request's tree, the upstream and the identity provider
// are told the trace, the access line names it, and no span holds a
// cookie, token, secret or query.
func TestTraceOfARequestFromATrustedProxy(t *testing.T) {
	recv := otlptest.StartHTTP(t)
	tr := startTracing(t, recv, nil)
	var logs proctest.Buffer
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, entitlements, ak_proxy]", trusted: true,
		tracer: tr.Tracer(), log: slog.New(slog.NewJSONHandler(&logs, nil))})
	c := browser(t)
	if resp := signIn(t, c, getPage(t, c, st.outpost+"/private"), "alice", "alice-pw"); resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, readBody(resp))
	}
	secrets := []string{"alice-pw", "alice-app-pw", appSecret, "code-from-the-query", st.token}
	for _, ck := range c.Jar.Cookies(must(url.Parse(st.outpost))) {
		secrets = append(secrets, ck.Value)
	}

	t.Run("session", func(t *testing.T) {
		resp := getPage(t, c, st.outpost+"/private/page?code=code-from-the-query", "Traceparent", clientTP, "Tracestate", "vendor=kept")
		if body := readBody(resp); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		up := st.lastUpstream(t)
		upTrace, upParent, upFlags := traceparentOf(t, up.Header.Get("Traceparent"))
		if upTrace != clientTrace || upFlags != "01" {
			t.Errorf("upstream traceparent %q does not continue the trusted proxy's trace", up.Header.Get("Traceparent"))
		}
		if got := up.Header.Get("Tracestate"); got != "vendor=kept" {
			t.Errorf("upstream tracestate %q, want the trusted proxy's", got)
		}
		flush(t, tr)
		spans := recv.WaitFor(t, "upstream span", hasSpan(clientTrace, "outpost.upstream"))
		req := spanNamed(t, spans, clientTrace, "outpost.request")
		decide := spanNamed(t, spans, clientTrace, "outpost.decide")
		get := spanNamed(t, spans, clientTrace, "outpost.session.get")
		upstream := spanNamed(t, spans, clientTrace, "outpost.upstream")
		if req.ParentSpanID != clientParent || req.Kind != "SPAN_KIND_SERVER" {
			t.Errorf("request span parent %q kind %s, want the proxy's span %s", req.ParentSpanID, req.Kind, clientParent)
		}
		wantParent(t, decide, req)
		wantParent(t, get, decide)
		wantParent(t, upstream, req)
		if upParent != upstream.SpanID {
			t.Errorf("the upstream's parent is %s, want the upstream span %s", upParent, upstream.SpanID)
		}
		want := map[string]string{"http.request.method": "GET", "http.response.status_code": "200", "outpost.provider": "app",
			"outpost.decision": "allowed", "outpost.auth_method": "session", "outpost.route": "app", "url.scheme": "http",
			"server.address": strings.TrimPrefix(st.outpost, "http://")}
		if !maps.Equal(req.Attrs, want) {
			t.Errorf("request span attributes\n got %v\nwant %v", req.Attrs, want)
		}
		if get.Attrs["outpost.outcome"] != "found" || upstream.Attrs["http.response.status_code"] != "200" {
			t.Errorf("session.get %v, upstream %v", get.Attrs, upstream.Attrs)
		}
		var line map[string]any
		for _, l := range accessLines(t, logs.String()) {
			if l["path"] == "/private/page" {
				line = l
			}
		}
		if line == nil || line["trace_id"] != clientTrace {
			t.Errorf("access line %v, want trace_id %s", line, clientTrace)
		}
	})

	t.Run("bearer token", func(t *testing.T) {
		tok, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
		secrets = append(secrets, tok)
		req, _ := http.NewRequest("GET", st.outpost+"/api", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Traceparent", "00-"+strings.Repeat("ab", 16)+"-"+clientParent+"-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(resp); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		trace := strings.Repeat("ab", 16)
		flush(t, tr)
		spans := recv.WaitFor(t, "request span", hasSpan(trace, "outpost.request"))
		decide := spanNamed(t, spans, trace, "outpost.decide")
		check := spanNamed(t, spans, trace, "outpost.credential_check")
		introspect := spanNamed(t, spans, trace, "outpost.introspect")
		wantParent(t, decide, spanNamed(t, spans, trace, "outpost.request"))
		wantParent(t, check, decide)
		wantParent(t, introspect, check)
		if check.Attrs["outpost.outcome"] != "verified" || decide.Attrs["outpost.auth_method"] != "bearer" {
			t.Errorf("credential check %v, decide %v", check.Attrs, decide.Attrs)
		}
		st.mu.Lock()
		core := slices.Clone(st.coreTraces)
		st.mu.Unlock()
		if want := "/application/o/introspect/ 00-" + trace + "-" + introspect.SpanID + "-01"; !slices.Contains(core, want) {
			t.Errorf("the identity provider was not told the trace: got %v, want %q", core, want)
		}
	})

	flush(t, tr)
	noSecrets(t, recv.Spans(), secrets...)
}

// A session whose token is due is refreshed under the request's trace,
// and the identity provider's token endpoint is told it.
func TestTraceOfATokenRefresh(t *testing.T) {
	recv := otlptest.StartHTTP(t)
	tr := startTracing(t, recv, nil)
	st := newStackWith(t, stackOptions{validity: 2, scopes: "[openid, email, profile, entitlements, ak_proxy, offline_access]", trusted: true, tracer: tr.Tracer()})
	c := browser(t)
	if resp := signIn(t, c, getPage(t, c, st.outpost+"/private"), "alice", "alice-pw"); resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, readBody(resp))
	}
	time.Sleep(1700 * time.Millisecond) // within the last quarter of the token's 2 s
	before := st.refreshGrants.Load()
	if resp := getPage(t, c, st.outpost+"/private", "Traceparent", clientTP); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, readBody(resp))
	}
	if st.refreshGrants.Load() == before {
		t.Fatal("the request did not refresh the token")
	}
	flush(t, tr)
	spans := recv.WaitFor(t, "token refresh span", hasSpan(clientTrace, "outpost.token_refresh"))
	refresh := spanNamed(t, spans, clientTrace, "outpost.token_refresh")
	wantParent(t, refresh, spanNamed(t, spans, clientTrace, "outpost.decide"))
	wantParent(t, spanNamed(t, spans, clientTrace, "outpost.session.save_if_exists"), refresh)
	if refresh.Attrs["outpost.outcome"] != "ok" {
		t.Errorf("refresh span %v", refresh.Attrs)
	}
	st.mu.Lock()
	core := slices.Clone(st.coreTraces)
	st.mu.Unlock()
	if want := "/application/o/token/ 00-" + clientTrace + "-" + refresh.SpanID + "-01"; !slices.Contains(core, want) {
		t.Errorf("the token endpoint was not told the trace: got %v, want %q", core, want)
	}
}

// Which traceparent the upstream gets: the outpost's own when tracing is
// on (continuing only a trusted proxy's trace), the client's unchanged
// when it is off, and never one the outpost invented while off.
func TestTraceparentToTheUpstream(t *testing.T) {
	for _, c := range []struct {
		name    string
		tracing bool
		env     map[string]string
		trusted bool
		sent    string // the client's traceparent ("" none)
		// want: "continued" (the client's trace, the outpost's span),
		// "new" (another trace), "as sent" or "none".
		want string
		// exported: the request's span reaches the collector.
		exported bool
	}{
		{name: "on, trusted peer", tracing: true, trusted: true, sent: clientTP, want: "continued", exported: true},
		{name: "on, untrusted peer", tracing: true, trusted: false, sent: clientTP, want: "new", exported: true},
		{name: "on, untrusted peer without one", tracing: true, trusted: false, want: "new", exported: true},
		{name: "on, trusted peer with a malformed one", tracing: true, trusted: true, sent: "00-zz-yy-01", want: "new", exported: true},
		{name: "sampled out", tracing: true, env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
			trusted: false, sent: clientTP, want: "new", exported: false},
		{name: "off, trusted peer", trusted: true, sent: clientTP, want: "as sent"},
		{name: "off, none sent", trusted: true, want: "none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var recv *otlptest.Receiver
			var tr *tracing.Tracing
			o := stackOptions{validity: 600, scopes: "[openid, email, profile, entitlements, ak_proxy]", trusted: c.trusted}
			if c.tracing {
				recv = otlptest.StartHTTP(t)
				tr = startTracing(t, recv, c.env)
				o.tracer = tr.Tracer()
			}
			var logs proctest.Buffer
			o.log = slog.New(slog.NewJSONHandler(&logs, nil))
			st := newStackWith(t, o)
			b := browser(t)
			if resp := signIn(t, b, getPage(t, b, st.outpost+"/private"), "alice", "alice-pw"); resp.StatusCode != 200 {
				t.Fatalf("sign-in: %d %s", resp.StatusCode, readBody(resp))
			}
			var header []string
			if c.sent != "" {
				header = []string{"Traceparent", c.sent, "Tracestate", "client=chosen"}
			}
			if resp := getPage(t, b, st.outpost+"/traced", header...); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, readBody(resp))
			}
			up := st.lastUpstream(t)
			got := up.Header.Get("Traceparent")
			var upTrace, flags string
			switch c.want {
			case "none":
				if got != "" || len(up.Header.Values("Traceparent")) != 0 {
					t.Fatalf("the upstream got traceparent %q with tracing off", got)
				}
			case "as sent":
				if got != c.sent || up.Header.Get("Tracestate") != "client=chosen" {
					t.Fatalf("the upstream got %q (%q), want the client's as sent", got, up.Header.Get("Tracestate"))
				}
			case "continued":
				upTrace, _, flags = traceparentOf(t, got)
				if upTrace != clientTrace {
					t.Fatalf("upstream trace %s, want the trusted proxy's %s", upTrace, clientTrace)
				}
			case "new":
				upTrace, _, flags = traceparentOf(t, got)
				if upTrace == clientTrace || strings.Contains(got, clientParent) {
					t.Fatalf("the upstream got the client's trace: %q", got)
				}
				if ts := up.Header.Get("Tracestate"); ts != "" {
					t.Errorf("the upstream got the client's tracestate %q", ts)
				}
			}
			for name, vals := range up.Header {
				for _, v := range vals {
					if c.want == "new" && strings.Contains(v, clientTrace) {
						t.Errorf("the upstream got the client's trace id in %s: %q", name, v)
					}
				}
			}
			if !c.tracing {
				st.mu.Lock()
				core := slices.Clone(st.coreTraces)
				st.mu.Unlock()
				if len(core) != 0 {
					t.Errorf("the core got traceparents with tracing off: %v", core)
				}
				return
			}
			var line map[string]any
			for _, l := range accessLines(t, logs.String()) {
				if l["path"] == "/traced" {
					line = l
				}
			}
			flush(t, tr)
			if !c.exported {
				if flags != "00" {
					t.Errorf("a sampled-out request told the upstream flags %s", flags)
				}
				time.Sleep(200 * time.Millisecond)
				if spans := recv.Spans(); len(spans) != 0 {
					t.Errorf("sampling ratio 0 exported %v", spanNames(spans))
				}
				if _, ok := line["trace_id"]; ok || line == nil {
					t.Errorf("access line %v: want one, without trace_id", line)
				}
				return
			}
			spans := recv.WaitFor(t, "request span", hasSpan(upTrace, "outpost.request"))
			req := spanNamed(t, spans, upTrace, "outpost.request")
			if c.want == "new" && req.ParentSpanID != "" {
				t.Errorf("the request span has parent %s: want a trace of its own", req.ParentSpanID)
			}
			if line == nil || line["trace_id"] != upTrace {
				t.Errorf("access line %v, want trace_id %s", line, upTrace)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Forward auth: the reverse proxy in front (trusted) asks about a request;
// the outpost's spans join the proxy's trace, marked forward_auth, with the
// decision about the original request.
func TestTraceOfAForwardAuthRequest(t *testing.T) {
	recv := otlptest.StartHTTP(t)
	tr := startTracing(t, recv, nil)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", mode: "forward_single", trusted: true, tracer: tr.Tracer()})
	host := strings.TrimPrefix(st.outpost, "http://")
	traefik := map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": host, "X-Forwarded-Uri": "/app/page?x=1"}
	c := browser(t)
	resp, _ := askAuth(t, st, c, "/outpost.goauthentik.io/auth/traefik", traefik)
	readBody(signIn(t, c, getPage(t, c, resp.Header.Get("Location")), "alice", "alice-pw"))
	for _, tc := range []struct {
		name, trace string
		signedIn    bool
		decision    string
		status      string
	}{
		{"signed in", strings.Repeat("1", 32), true, "allowed", "200"},
		{"signed out", strings.Repeat("2", 32), false, "login_redirect", "302"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := maps.Clone(traefik)
			h["Traceparent"] = "00-" + tc.trace + "-" + clientParent + "-01"
			var jar *http.Client
			if tc.signedIn {
				jar = c
			}
			resp, body := askAuth(t, st, jar, "/outpost.goauthentik.io/auth/traefik", h)
			if got := resp.StatusCode; got != map[bool]int{true: 200, false: 302}[tc.signedIn] {
				t.Fatalf("%d %s", got, body)
			}
			flush(t, tr)
			spans := recv.WaitFor(t, "decide span", hasSpan(tc.trace, "outpost.decide"))
			req := spanNamed(t, spans, tc.trace, "outpost.request")
			decide := spanNamed(t, spans, tc.trace, "outpost.decide")
			wantParent(t, decide, req)
			if req.ParentSpanID != clientParent || req.Attrs["outpost.route"] != "forward_auth" || req.Attrs["outpost.decision"] != tc.decision ||
				req.Attrs["http.response.status_code"] != tc.status || decide.Attrs["outpost.decision"] != tc.decision {
				t.Errorf("request span %v (parent %s), decide %v", req.Attrs, req.ParentSpanID, decide.Attrs)
			}
		})
	}
}
