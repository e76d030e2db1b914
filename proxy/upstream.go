package proxy

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
	"go.opentelemetry.io/otel/trace"
)

// Upstream timeouts. There is no overall response timeout: streams, SSE and
// long downloads run as long as both ends keep them open. The wait for the
// response headers is the provider's (upstreamSettings.headerTimeout).
const (
	upstreamDialTimeout         = 10 * time.Second
	upstreamTLSHandshakeTimeout = 10 * time.Second
	upstreamIdleConnTimeout     = 90 * time.Second
)

// upstreamSettings are a provider's choices for its upstream connections.
type upstreamSettings struct {
	verifyTLS bool
	// headerTimeout bounds the wait for the response headers, from the
	// end of the request; 0 is outpostapi.DefaultResponseHeaderTimeout.
	// A websocket's 101 is its headers; a stream's body is not bounded.
	headerTimeout time.Duration
}

// transports shares one http.Transport per (scheme+host, TLS validation,
// header timeout), so connections are reused across requests and across
// configuration refreshes; providers with another timeout get their own.
type transports struct {
	mu sync.Mutex
	m  map[transportKey]*http.Transport
}

type transportKey struct {
	hostport      string
	insecure      bool
	headerTimeout time.Duration
}

func newTransports() *transports { return &transports{m: map[transportKey]*http.Transport{}} }

func (ts *transports) get(target *url.URL, set upstreamSettings) *http.Transport {
	key := transportKey{target.Scheme + "://" + target.Host, !set.verifyTLS, cmp.Or(set.headerTimeout, outpostapi.DefaultResponseHeaderTimeout)}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.m[key]; ok {
		return t
	}
	t := &http.Transport{
		// No proxy from the environment: the upstream is reached directly.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: upstreamDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   upstreamTLSHandshakeTimeout,
		ResponseHeaderTimeout: key.headerTimeout,
		IdleConnTimeout:       upstreamIdleConnTimeout,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: key.insecure, MinVersion: tls.VersionTLS12}, //nolint:gosec // internal_host_ssl_validation=false asks for exactly this
	}
	ts.m[key] = t
	return t
}

// upstreamTarget says where one request goes and as whom.
type upstreamTarget struct {
	URL *url.URL // scheme+host of internal_host or backend_override
	// HostHeader replaces the client's Host when set (ak_proxy.host_header).
	HostHeader string
	// Superuser sees the upstream error text on the 502 page.
	Superuser bool
	// Override is true when URL comes from the session's backend_override.
	Override bool
	// Identity, when set, is whose identity headers the request carries.
	// They are set on the outgoing request in Rewrite, after ReverseProxy
	// removed the hop-by-hop headers: a client's "Connection:
	// X-Authentik-Username" then names nothing the outpost set.
	Identity *session.Session
	// Upgrade is the one protocol the request may switch to ("" none): a
	// 101 to anything else is not spliced.
	Upgrade string
	// Assertion, when set, is the signed identity assertion, set under
	// AssertionHeader with the identity (assertion.go).
	AssertionHeader, Assertion string
}

// upstreamHostLabel is the upstream_host metric label: configured hosts
// only, since backend_override comes from the identity provider.
func (t upstreamTarget) upstreamHostLabel() string {
	if t.Override {
		return "backend_override"
	}
	return t.URL.Host
}

type upstreamKey struct{}

// upstreamProxy forwards requests to the target stored in their context.
type upstreamProxy struct {
	log        *slog.Logger
	transports *transports
	// internal is the transport to the provider's internal_host, looked
	// up once (preset): a request to it takes no lock and builds no key.
	internal atomic.Pointer[presetTransport]
	rp       *httputil.ReverseProxy
	metrics  *metrics.Host
	// identity writes a session's identity headers (application.setIdentity).
	identity func(http.Header, *session.Session)
	// tracer, when set, gives the call its span and the upstream the
	// trace context (tracing.go); nil: tracing off.
	tracer trace.Tracer
}

func newUpstreamProxy(log *slog.Logger, ts *transports, set upstreamSettings, hm *metrics.Host) *upstreamProxy {
	u := &upstreamProxy{log: log, transports: ts, metrics: hm}
	u.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := targetOf(pr.In)
			// Only scheme and host of the target count; path and query go
			// upstream as the client sent them.
			pr.Out.URL.Scheme = t.URL.Scheme
			pr.Out.URL.Host = t.URL.Host
			pr.Out.Host = pr.In.Host
			if t.HostHeader != "" {
				pr.Out.Host = t.HostHeader
			}
			// Every header the outpost adds goes into one map sized for
			// them, made once: what ReverseProxy left of the client's
			// (after hop-by-hop removal), the forwarding headers, the
			// request id and the identity. Adding them to ReverseProxy's
			// copy instead grew it, more than once, on every request.
			room := upstreamHeaderRoom
			if t.Identity != nil && u.identity != nil {
				room += identityRoom
			}
			if u.tracer != nil {
				room += traceHeaderRoom
			}
			h := make(http.Header, len(pr.Out.Header)+room)
			maps.Copy(h, pr.Out.Header)
			pr.Out.Header = h
			setForwarding(h, pr.In, infoOf(pr.In))
			if u.tracer != nil {
				// The outpost's span: a client's traceparent never reaches
				// the upstream (startRequest removed it).
				injectTrace(pr.Out.Context(), h)
			}
			if t.Identity != nil && u.identity != nil {
				u.identity(h, t.Identity)
				if t.Assertion != "" {
					h[t.AssertionHeader] = []string{t.Assertion}
				}
			}
		},
		Transport: transportFor(u, ts, set, hm),
		// Streams arrive live: ReverseProxy flushes every write of an SSE
		// response or of one without a Content-Length (chunked streams,
		// streamed logs, long polls) whatever this is. A body of known
		// length is not flushed before its handler returns, so it costs
		// no timer (0, not a delay: a 1 ms interval made and stopped a
		// timer per request and fired in a few per cent of them; not -1:
		// that flushes the headers on their own, two writes to the client
		// for every small response).
		FlushInterval: 0,
		ModifyResponse: func(resp *http.Response) error {
			t := targetOf(resp.Request)
			if err := checkSwitch(resp, t.Upgrade); err != nil {
				return err
			}
			resp.Header["X-Powered-By"] = poweredBy
			return nil
		},
		ErrorHandler: u.fail,
		// Without a pool every request allocates (and clears) a 32 KB copy
		// buffer: most of the garbage of a proxied request.
		BufferPool: copyBuffers,
	}
	return u
}

// poweredBy is the X-Powered-By value of every proxied response, shared
// (ReverseProxy copies it into the response, and nothing changes it).
var poweredBy = []string{"goauthentik.io"}

// copyBuffers are ReverseProxy's body copy buffers, shared by every
// upstream proxy.
var copyBuffers httputil.BufferPool = &bufferPool{}

// bufferPool keeps copy buffers as array pointers: putting a slice back
// would allocate its header on every request.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 * 1024

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return v[:]
	}
	return make([]byte, copyBufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) != copyBufferSize {
		return
	}
	b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
}

// transportFor picks the shared transport per request, by target.
type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// presetTransport is the shared transport for one scheme and host.
type presetTransport struct {
	scheme, host string
	t            *http.Transport
}

// preset looks up the transport to target (the provider's internal_host)
// now, for every request to it. Others (backend_override) are looked up
// per request.
func (u *upstreamProxy) preset(target *url.URL, set upstreamSettings) {
	if target == nil || target.Host == "" {
		return
	}
	u.internal.Store(&presetTransport{scheme: target.Scheme, host: target.Host, t: u.transports.get(target, set)})
}

func transportFor(u *upstreamProxy, ts *transports, set upstreamSettings, hm *metrics.Host) http.RoundTripper {
	return transportFunc(func(r *http.Request) (*http.Response, error) {
		start := time.Now()
		var t *http.Transport
		if p := u.internal.Load(); p != nil && p.host == r.URL.Host && p.scheme == r.URL.Scheme {
			t = p.t
		} else {
			t = ts.get(r.URL, set)
		}
		resp, err := t.RoundTrip(r)
		if err == nil {
			t := targetOf(r)
			hm.UpstreamResponse(r.Method, r.URL.Scheme, t.upstreamHostLabel(), time.Since(start))
			if u.tracer != nil {
				upstreamAnswered(r, resp.StatusCode)
			}
		}
		return resp, err
	})
}

// serve proxies r to t. Inside the server t goes into the request's
// record; only outside it (tests of the upstream alone) does r get a
// context of its own, a copy of the request more.
func (u *upstreamProxy) serve(w http.ResponseWriter, r *http.Request, t upstreamTarget) {
	if info := infoOf(r); info != nil {
		info.target, info.proxied = t, true
		if u.tracer != nil {
			u.serveTraced(w, r, t)
			return
		}
		u.rp.ServeHTTP(w, r)
		return
	}
	u.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), upstreamKey{}, t)))
}

// targetOf is where serve sends r (the zero target outside serve).
func targetOf(r *http.Request) upstreamTarget {
	if info := infoOf(r); info != nil && info.proxied {
		return info.target
	}
	t, _ := r.Context().Value(upstreamKey{}).(upstreamTarget)
	return t
}

// upstreamHeaderRoom is how many headers Rewrite adds besides the
// identity: X-Forwarded-For, -Host, -Proto and X-Request-Id.
const upstreamHeaderRoom = 4

// setForwarding sets in h, the upstream request's headers, the forwarding
// headers of in (whose record is info, nil outside the server) and the
// request id the outpost made for it. X-Forwarded-For is what
// httputil.ProxyRequest.SetXForwarded sets: the list the trust layer left
// (none from an untrusted peer), plus this hop. Host and scheme are the
// request's origin as trust resolved it. The values share one array, each
// header a full-capacity slice of it, instead of one allocation each.
func setForwarding(h http.Header, in *http.Request, info *requestInfo) {
	vals := make([]string, 0, 3)
	set := func(name, value string) {
		vals = append(vals, value)
		h[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		set("X-Forwarded-For", ip)
	} else {
		delete(h, "X-Forwarded-For")
	}
	host, scheme := in.Host, "http"
	if in.TLS != nil {
		scheme = "https"
	}
	if info != nil && info.origin.Host != "" {
		host, scheme = info.origin.Host, info.origin.Scheme
	}
	set("X-Forwarded-Host", host)
	set("X-Forwarded-Proto", scheme)
	if info != nil && info.newID {
		// The id the outpost made for this request (a client's, or an
		// untrusted proxy's, is not passed on); the response's slice.
		h["X-Request-Id"] = info.idLine[:]
	}
}

// fail is the 502 page: the upstream error text only for superusers, since
// it can name internal hosts and ports.
func (u *upstreamProxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		// The client went away; there is nobody to answer.
		return
	}
	if bodyStalled(w) {
		// The client's upload stalled, not the upstream.
		answerBodyTimeout(w)
		return
	}
	t := targetOf(r)
	kind := upstreamErrorKind(err)
	u.metrics.UpstreamError(kind)
	if u.tracer != nil {
		upstreamFailed(r, kind)
	}
	u.log.Warn("upstream request failed", "upstream", t.URL.Host, "kind", kind, "method", r.Method, "path", r.URL.Path,
		"request_id", requestID(r), "error", err)
	if kind == "timeout" {
		// As nginx: an upstream that does not answer in time is a 504.
		writePage(w, r, http.StatusGatewayTimeout, "Gateway timeout",
			"The application did not answer in time. Try again in a moment; if it keeps happening, tell the application's owner.", "")
		return
	}
	msg := "Failed to connect to backend."
	if t.Superuser {
		msg = err.Error()
	}
	writePage(w, r, http.StatusBadGateway, "Bad gateway", msg, "",
		pageLink{ID: "retry", Href: selfURL(r), Text: "Try again"})
}

// upstreamErrorKind sorts upstream failures into the few kinds an operator
// acts on differently.
func upstreamErrorKind(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.As(err, &certErr), errors.As(err, &recordErr):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	}
	return "other"
}
