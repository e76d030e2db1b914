package proxy

// Microbenchmarks of the per-request path (issue 10): trust resolution,
// routing, cookie decode + session lookup, the decision, header building,
// and the whole ServeHTTP with a signed-in session. Run them with
//
//	go test -run '^$' -bench . -benchmem ./proxy
//
// or `make bench`, which also runs the load harness in bench/.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// benchClaims are shaped like the devcore's (and authentik's) ID token
// claims for a person in two groups with one additional header.
func benchClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": "http://core/application/o/app/", "sub": "5f1c0a1e8b9d4c3a2f1e0d9c8b7a6f5e4d3c2b1a",
		"aud": "app", "exp": float64(now.Add(time.Hour).Unix()), "iat": float64(now.Unix()),
		"auth_time": float64(now.Unix()), "sid": "b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5",
		"email": "alice@example.com", "email_verified": true, "name": "Alice Example",
		"given_name": "Alice Example", "preferred_username": "alice", "nickname": "alice",
		"groups": []any{"ops", "developers"}, "entitlements": []any{},
		"ak_proxy": map[string]any{
			"user_attributes": map[string]any{"additionalHeaders": map[string]any{"X-Team": "platform"}},
			"is_superuser":    false,
		},
	}
}

// benchSession is a signed-in session of provider p, as login stores it.
func benchSession(p *outpostapi.Provider) *session.Session {
	now := time.Now()
	claims := benchClaims()
	return &session.Session{
		ID: session.NewID(), Provider: p.ClientID, Claims: claims,
		Sub: claims["sub"].(string), SID: claims["sid"].(string),
		AccessToken: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + fmt.Sprintf("%0700d", 0) + ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU",
		IDToken:     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + fmt.Sprintf("%0600d", 0) + ".c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU",
		TokenExpiry: now.Add(time.Hour), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
	}
}

// benchEnv is one outpost with n proxy providers (the first at
// app.example.com), a memory store holding one session of it and the
// cookie that names it.
type benchEnv struct {
	srv    *Server
	app    *application
	store  session.Store
	cookie *http.Cookie
	sess   *session.Session
}

func newBenchEnv(b *testing.B, n int, upstream string) *benchEnv {
	b.Helper()
	snap := &outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "bench"}}
	for i := range n {
		host := "https://app.example.com"
		if i > 0 {
			host = fmt.Sprintf("https://app-%d.example.com", i)
		}
		p := provider(b, fmt.Sprintf("app-%d", i), outpostapi.ModeProxy, host, "")
		if upstream != "" {
			p.InternalURL, _ = url.Parse(upstream)
		}
		snap.Providers = append(snap.Providers, p)
	}
	return newSignedInBenchEnv(b, snap, nil)
}

// newSignedInBenchEnv serves snap (a provider at app.example.com among
// them) behind the trusted proxies, with a memory store holding one
// session of that provider.
func newSignedInBenchEnv(b testing.TB, snap *outpostapi.Snapshot, trusted []netip.Prefix) *benchEnv {
	return newTracedBenchEnv(b, snap, trusted, nil)
}

// newTracedBenchEnv is newSignedInBenchEnv with tracer (nil: tracing off).
func newTracedBenchEnv(b testing.TB, snap *outpostapi.Snapshot, trusted []netip.Prefix, tracer trace.Tracer) *benchEnv {
	b.Helper()
	store := session.NewMemoryStore(session.MemoryOptions{})
	b.Cleanup(func() { _ = store.Close() })
	// The access log is formatted as in production (JSON), then dropped.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := New(Options{Log: log, Store: store, Metrics: metrics.NewProxy(), Version: "bench", TrustedProxies: trusted, Tracer: tracer})
	if failed := srv.Update(snap); len(failed) > 0 {
		b.Fatalf("providers failed: %v", failed)
	}
	app := srv.current.Load().router.route("app.example.com")
	s := benchSession(app.provider)
	if err := store.Save(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	ck, err := app.sessionCookies.Cookie(s.ID, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{srv: srv, app: app, store: store, cookie: ck, sess: s}
}

// browserRequest is a signed-in browser's page load as it reaches the
// outpost directly (no proxy in front).
func (e *benchEnv) browserRequest() *http.Request {
	r := httptest.NewRequest("GET", "https://app.example.com/api/v1/query?query=up", nil)
	r.RemoteAddr = "192.0.2.10:51234"
	r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	r.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	r.Header.Set("Cookie", "_ga=GA1.1.123; "+e.cookie.Name+"="+e.cookie.Value+"; theme=dark")
	return r
}

func BenchmarkTrustResolve(b *testing.B) {
	b.Run("untrusted_peer", func(b *testing.B) {
		t := trust{cidrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
		r := httptest.NewRequest("GET", "http://app.example.com/", nil)
		r.RemoteAddr = "192.0.2.10:51234"
		r.Header.Set("Accept", "text/html")
		r.Header.Set("User-Agent", "Mozilla/5.0")
		r.Header.Set("Cookie", "a=b")
		b.ReportAllocs()
		for b.Loop() {
			_ = t.resolve(r)
		}
	})
	b.Run("trusted_peer_xff", func(b *testing.B) {
		t := trust{cidrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
		r := httptest.NewRequest("GET", "http://app.example.com/", nil)
		r.RemoteAddr = "10.0.0.2:51234"
		r.Header.Set("X-Forwarded-For", "198.51.100.7, 10.0.0.9")
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "app.example.com")
		b.ReportAllocs()
		for b.Loop() {
			_ = t.resolve(r)
		}
	})
}

func BenchmarkRoute(b *testing.B) {
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("providers=%d", n), func(b *testing.B) {
			snap := &outpostapi.Snapshot{}
			for i := range n {
				snap.Providers = append(snap.Providers, provider(b, fmt.Sprintf("p%d", i), outpostapi.ModeProxy, fmt.Sprintf("https://app-%d.example.com", i), ""))
			}
			r := routerFor(snap)
			host := fmt.Sprintf("app-%d.example.com", n/2)
			b.ReportAllocs()
			for b.Loop() {
				if r.route(host) == nil {
					b.Fatal("no route")
				}
			}
		})
	}
	b.Run("forward_domain", func(b *testing.B) {
		r := routerFor(&outpostapi.Snapshot{Providers: []outpostapi.Provider{
			provider(b, "a", outpostapi.ModeProxy, "https://a.example.com", ""),
			provider(b, "d", outpostapi.ModeForwardDomain, "https://auth.example.com", ".example.com"),
		}})
		b.ReportAllocs()
		for b.Loop() {
			if r.route("grafana.example.com") == nil {
				b.Fatal("no route")
			}
		}
	})
}

// BenchmarkSessionLookup is the cookie decode (HMAC + AES) and the memory
// store's Get, as cookieSession does them.
func BenchmarkSessionLookup(b *testing.B) {
	e := newBenchEnv(b, 1, "")
	r := e.browserRequest()
	w := httptest.NewRecorder()
	b.Run("cookie_decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.app.sessionCookies.SessionID(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store_get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.store.Get(r.Context(), e.sess.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("current_session", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if s, err := e.app.cookieSession(w, r); s == nil || err != nil {
				b.Fatal("no session", err)
			}
		}
	})
	b.Run("current_session_parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := e.browserRequest()
			w := httptest.NewRecorder()
			for pb.Next() {
				if s, err := e.app.cookieSession(w, r); s == nil || err != nil {
					b.Fatal("no session", err)
				}
			}
		})
	})
}

func BenchmarkDecide(b *testing.B) {
	e := newBenchEnv(b, 1, "")
	id := identity{session: e.sess, method: metrics.MethodSession}
	u, _ := url.Parse("https://app.example.com/api/v1/query?query=up")
	b.ReportAllocs()
	for b.Loop() {
		if v := e.app.decide(id, u, "GET"); v.decision != allowIdentified {
			b.Fatal(v)
		}
	}
}

func BenchmarkSetIdentityHeaders(b *testing.B) {
	e := newBenchEnv(b, 1, "")
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		e.app.setIdentity(h, e.sess)
	}
}

// BenchmarkDecisionPath is everything the outpost adds before the upstream
// call, in order: trust, route, session, decision, logging it, headers.
func BenchmarkDecisionPath(b *testing.B) {
	e := newBenchEnv(b, 1, "")
	st := e.srv.current.Load()
	w := httptest.NewRecorder()
	base := e.browserRequest()
	b.ReportAllocs()
	for b.Loop() {
		// A request of its own, as the server would parse it: the header
		// map is the request's, the strings are shared (nothing here
		// changes them in place).
		r := new(http.Request)
		*r = *base
		r.Header = maps.Clone(base.Header)
		info := &requestInfo{}
		info.origin = e.srv.trust.resolve(r)
		r = withInfo(r, info)
		app := st.router.route(info.origin.Host)
		id, err := app.authenticate(w, r)
		if err != nil {
			b.Fatal(err)
		}
		app.removeOwnCookies(r)
		if d := app.logDecision(r, id, app.decide(id, r.URL, r.Method)); d != allowIdentified {
			b.Fatal(d)
		}
		h := make(http.Header, len(r.Header)+identityRoom)
		maps.Copy(h, r.Header)
		app.setIdentity(h, id.session)
	}
}

// benchUpstream answers 200 "ok" like the harness's upstream.
func benchUpstream(b *testing.B) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	return up
}

// BenchmarkServeHTTP is the whole request through Server.ServeHTTP to a
// loopback upstream, next to bare httputil.ReverseProxy floors to the same
// upstream with the same client: the difference is what the outpost adds.
// Every sub-benchmark counts the same client side (a copy of the request
// and a recorder) and the upstream's side (it runs in this process).
//
//   - bare_reverse_proxy: no BufferPool, a 32 KB copy buffer per request
//     (the old floor of docs/performance.md).
//   - bare_pooled: pooled copy buffers and the outpost's transport settings
//     without the response-header timeout: ReverseProxy's and net/http's
//     own cost.
//   - identity_ceiling: bare_pooled setting the fixed headers the outpost
//     sends for the session (identity, X-Forwarded-*, X-Request-Id, its
//     cookie removed), in one map sized for them: what carrying them costs
//     net/http on both ends, which no outpost can avoid.
//   - outpost_session: a signed-in browser through the outpost.
//   - outpost_session_no_header_timer: the same with the transport's
//     ResponseHeaderTimeout off: the cost of net/http's per-request timer.
func BenchmarkServeHTTP(b *testing.B) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	// serve runs h for a fresh copy of base and checks the status.
	serve := func(b *testing.B, h http.Handler, base *http.Request, want int) {
		b.Helper()
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, base.Clone(base.Context()))
			if w.Code != want {
				b.Fatal(w.Code, w.Body.String())
			}
		}
	}
	b.Run("bare_reverse_proxy", func(b *testing.B) {
		rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
			Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		e := newBenchEnv(b, 1, up.URL)
		serve(b, rp, e.browserRequest(), http.StatusOK)
	})
	b.Run("bare_pooled", func(b *testing.B) {
		rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
			Transport: benchTransport(target, false), BufferPool: copyBuffers}
		e := newBenchEnv(b, 1, up.URL)
		serve(b, rp, e.browserRequest(), http.StatusOK)
	})
	b.Run("identity_ceiling", func(b *testing.B) {
		e := newBenchEnv(b, 1, up.URL)
		base := e.browserRequest()
		fixed := e.upstreamHeaders(b, base)
		rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			h := make(http.Header, len(pr.Out.Header)+len(fixed))
			maps.Copy(h, pr.Out.Header)
			maps.Copy(h, fixed)
			pr.Out.Header = h
		}, Transport: benchTransport(target, false), BufferPool: copyBuffers}
		serve(b, rp, base, http.StatusOK)
	})
	b.Run("outpost_session", func(b *testing.B) {
		e := newBenchEnv(b, 1, up.URL)
		serve(b, e.srv, e.browserRequest(), http.StatusOK)
	})
	b.Run("outpost_session_no_header_timer", func(b *testing.B) {
		e := newBenchEnv(b, 1, up.URL)
		// Before the first request: nothing uses the transport yet.
		e.app.upstream.internal.Load().t.ResponseHeaderTimeout = 0
		serve(b, e.srv, e.browserRequest(), http.StatusOK)
	})
	b.Run("outpost_session_traced_1pct", func(b *testing.B) {
		// Tracing on, 1 % of new traces sampled, spans batched to an
		// exporter that drops them: the outpost's side of tracing, not
		// the export's.
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))),
			sdktrace.WithBatcher(discardSpans{}))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		snap := &outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "bench"}}
		p := provider(b, "app-0", outpostapi.ModeProxy, "https://app.example.com", "")
		p.InternalURL = target
		snap.Providers = append(snap.Providers, p)
		e := newTracedBenchEnv(b, snap, nil, tp.Tracer("bench"))
		serve(b, e.srv, e.browserRequest(), http.StatusOK)
	})
	b.Run("outpost_login_redirect", func(b *testing.B) {
		e := newBenchEnv(b, 1, up.URL)
		base := e.browserRequest()
		base.Header.Del("Cookie")
		serve(b, e.srv, base, http.StatusFound)
	})
}

// benchTransport is the outpost's transport to target (transports.get),
// with or without its response-header timeout.
func benchTransport(target *url.URL, headerTimer bool) *http.Transport {
	t := newTransports().get(target, upstreamSettings{})
	if !headerTimer {
		t.ResponseHeaderTimeout = 0
	}
	return t
}

// upstreamHeaders are the headers the outpost adds to or changes in base
// on its way upstream (what the app receives that base did not carry), as
// the outpost sends them: the identity ceiling sets them fixed.
func (e *benchEnv) upstreamHeaders(b *testing.B, base *http.Request) http.Header {
	b.Helper()
	got := make(chan http.Header, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Clone():
		default:
		}
	}))
	defer app.Close()
	env := newBenchEnv(b, 1, app.URL)
	// The same session and cookie as e's, in env's own store and codec.
	if err := env.store.Save(context.Background(), e.sess); err != nil {
		b.Fatal(err)
	}
	r := base.Clone(base.Context())
	ck, err := env.app.sessionCookies.Cookie(e.sess.ID, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	r.Header.Set("Cookie", "_ga=GA1.1.123; "+ck.Name+"="+ck.Value+"; theme=dark")
	w := httptest.NewRecorder()
	env.srv.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatal(w.Code, w.Body.String())
	}
	sent := <-got
	fixed := http.Header{}
	for name, v := range sent {
		if !slices.Equal(base.Header[name], v) {
			fixed[name] = v
		}
	}
	if len(fixed) < len(identityHeaderNames)+3 {
		b.Fatalf("the outpost added only %v", slices.Sorted(maps.Keys(fixed)))
	}
	return fixed
}

// isForwardingHeader is the map lookup of the lower-cased, "_"-as-"-" name
// it replaced, without allocating.
func TestIsForwardingHeaderFold(t *testing.T) {
	names := []string{"X-Forwarded-For", "x_forwarded_for", "X_FORWARDED_HOST", "Forwarded", "FORWARDED",
		"X-Real-Ip", "True-Client-Ip", "X-Original-Url", "Accept", "Cookie", "", "X-Forwarded-For-Extra-Long-Header-Name",
		"x-forwarded-proto", "X-Client-IP", "X-Forwarded", "Forwarded_", "X-Ｆorwarded-For"}
	for _, n := range names {
		want := forwardingHeaders[strings.ReplaceAll(strings.ToLower(n), "_", "-")]
		if got := isForwardingHeader(n); got != want {
			t.Errorf("isForwardingHeader(%q) = %v, want %v", n, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { isForwardingHeader("X-Forwarded-Host") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// BenchmarkUpdate is building the data plane for a snapshot and swapping it
// in: what a configuration refresh costs the outpost once the core has
// answered.
func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{2, 1000} {
		b.Run(fmt.Sprintf("providers=%d", n), func(b *testing.B) {
			snap := &outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "bench"}}
			for i := range n {
				snap.Providers = append(snap.Providers, provider(b, fmt.Sprintf("p%d", i), outpostapi.ModeProxy, fmt.Sprintf("https://app-%d.example.com", i), ""))
			}
			srv := New(Options{Log: discard(), Metrics: metrics.NewProxy(), Version: "bench"})
			b.ReportAllocs()
			for b.Loop() {
				if failed := srv.Update(snap); len(failed) > 0 {
					b.Fatal(failed)
				}
			}
		})
	}
}

// discardSpans is a span exporter that drops what it is given.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }
