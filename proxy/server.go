// Package proxy is the data plane: listeners, routing, applications, login,
// forward auth, decisions and upstream proxying.
package proxy

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outpost-dev/outpost/assertion"
	"github.com/outpost-dev/outpost/internal/reuse"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/session"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
)

// Server routes every request on the main listeners through the snapshot in
// force. Update swaps the snapshot atomically; in-flight requests finish on
// the one they started with.
type Server struct {
	opts    Options
	log     *slog.Logger
	trust   trust
	current atomic.Pointer[dataPlane]
	// refreshFailed is the last refresh's failure while an older
	// configuration serves; nil once a refresh succeeds.
	refreshFailed atomic.Pointer[string]
	shared        *shared
	// other counts requests before the first snapshot.
	other *metrics.Host
	// updating makes refreshes take turns (they share the codec cache).
	updating sync.Mutex
	// redirectURIs are the redirect URIs logged per provider name
	// (announceRedirectURIs); guarded by updating.
	redirectURIs map[string]string

	// tracer is Options.Tracer: nil when tracing is off.
	tracer trace.Tracer
}

// shared is what every application uses and outlives snapshots: upstream
// connections, refreshes in flight (joined across a swap), websocket slots.
type shared struct {
	transports *transports
	refreshes  *singleflight.Group
	// backoff spaces refreshes that failed for a reason that may pass.
	backoff    *refreshBackoff
	websockets *connLimiter
	// credentials caches Authorization outcomes across snapshots.
	credentials *credentialCache
	// failures limits refused credentials per client IP.
	failures *failureLimiter
	// logouts limits back-channel logout requests per client IP.
	logouts *failureLimiter
	// keyRefresh is the least time between a provider's JWKS fetches
	// (spacedKeySet); only tests shorten it.
	keyRefresh time.Duration
	// events limits configuration_error events per provider and cause.
	events *eventLimiter
	// codecs are the cookie codecs, kept while their options stay.
	// Deriving a codec's keys (two HKDFs and an AES key schedule) costs
	// about 10 µs, and every provider has two: most of the time a
	// 1,000-provider refresh spent building the data plane (issue 10).
	codecs *reuse.Cache[session.CookieOptions, *session.Codec]
	// additional are the additionalHeaders names per provider.
	additional *additionalRegistry
	// discoveries run the standalone providers' OIDC discovery.
	discoveries *discoveries
	// signer signs identity assertions with keys every replica shares;
	// nil when its settings are unusable (signerErr says why).
	signer    *assertion.Signer
	signerErr error
}

// Options are the outpost-wide settings of the data plane.
type Options struct {
	Log *slog.Logger
	// Store keeps sessions; carried across snapshots.
	Store session.Store
	// Version is version[+build], for User-Agent and X-authentik-meta-version.
	Version string
	// BrowserURL is AUTHENTIK_HOST_BROWSER (nil when unset).
	BrowserURL *url.URL
	// Insecure is AUTHENTIK_INSECURE: no TLS verification towards the core.
	Insecure bool
	// TrustedProxies are the peers whose forwarding headers count
	// (AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS). Empty: nobody's.
	TrustedProxies []netip.Prefix
	// MaxWebsocketsPerClient caps concurrent websocket upgrades per client
	// IP (default DefaultMaxWebsocketsPerClient).
	MaxWebsocketsPerClient int
	// AllowedUpgrades are the protocols a proxy-mode client may upgrade to
	// where the provider sets none (OUTPOST_PROXY__ALLOWED_UPGRADES); nil:
	// websocket only.
	AllowedUpgrades []string
	// Events, if set, reports configuration errors to the core
	// (POST /api/v3/events/events/).
	Events func(context.Context, outpostapi.Event)
	// Metrics receives the data plane's metrics; nil keeps them private.
	Metrics *metrics.Proxy
	// CredentialCacheTTL is how long a verified bearer token or app
	// password is trusted without asking the provider again: at most (and
	// by default) MaxCredentialCacheTTL, never past the token's expiry.
	CredentialCacheTTL time.Duration
	// AdditionalHeaders are header names additionalHeaders attributes set
	// (OUTPOST_AUTH__ADDITIONAL_HEADERS): never passed from a client.
	AdditionalHeaders []string
	// CredentialFailuresPerMinute is each client IP's budget of refused
	// Bearer/Basic credentials (default DefaultCredentialFailuresPerMinute):
	// past it, 429.
	CredentialFailuresPerMinute int
	// BackchannelLogoutsPerMinute is each client IP's budget of requests
	// to the back-channel logout endpoint, refused ones included (default
	// DefaultBackchannelLogoutsPerMinute): past it, 429.
	BackchannelLogoutsPerMinute int
	// ResponseHeaderTimeout is how long an upstream may take to send its
	// response headers before the client gets a 504, where the provider
	// sets none (OUTPOST_PROXY__RESPONSE_HEADER_TIMEOUT; default
	// outpostapi.DefaultResponseHeaderTimeout).
	ResponseHeaderTimeout time.Duration
	// Assertion are the identity assertion's outpost-wide settings
	// (OUTPOST_ASSERTION__*, assertion.go).
	Assertion AssertionOptions
	// ProtectedResourceMetadata is whether providers serve the protected
	// resource metadata (RFC 9728) where the provider does not say
	// (OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA); nil:
	// DefaultProtectedResourceMetadata.
	ProtectedResourceMetadata *bool
	// Tracer starts the spans of requests (tracing.go, docs/tracing.md);
	// nil: tracing is off, and costs a request nothing.
	Tracer trace.Tracer
}

// dataPlane is everything built from one snapshot: what Update puts in
// force.
type dataPlane struct {
	snap   *outpostapi.Snapshot
	router *router
	// other counts requests no provider of this snapshot serves.
	other *metrics.Host
	// apps are the applications built, by provider name, and leftOut why
	// the others were not: for readiness.
	apps    map[string]*application
	leftOut map[string]string
	// leftOutHosts is, by lower-case host, the provider Update could not
	// build for it: an unknown host's page and log line say so.
	leftOutHosts map[string]outpostapi.ProviderError
}

// New returns a Server with no configuration: it answers ping and 503 until
// the first snapshot arrives.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Store == nil {
		opts.Store = session.NewMemoryStore(session.MemoryOptions{})
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewProxy()
	}
	signer, signerErr := newAssertionSigner(opts)
	return &Server{opts: opts, log: opts.Log, trust: trust{cidrs: opts.TrustedProxies}, tracer: opts.Tracer, other: opts.Metrics.Host("", metrics.OtherHost), shared: &shared{
		transports:  newTransports(),
		refreshes:   new(singleflight.Group),
		backoff:     new(refreshBackoff),
		websockets:  newConnLimiter(opts.MaxWebsocketsPerClient),
		credentials: newCredentialCache(opts.CredentialCacheTTL),
		failures:    newFailureLimiter(opts.CredentialFailuresPerMinute),
		logouts:     newFailureLimiter(cmp.Or(opts.BackchannelLogoutsPerMinute, DefaultBackchannelLogoutsPerMinute)),
		keyRefresh:  defaultKeyRefreshInterval,
		events:      new(eventLimiter),
		codecs:      new(reuse.Cache[session.CookieOptions, *session.Codec]),
		additional:  newAdditionalRegistry(opts.AdditionalHeaders),
		discoveries: newDiscoveries(opts.Log, opts.Metrics),
		signer:      signer,
		signerErr:   signerErr,
	}}
}

// Close stops the background work of the providers in force (their
// issuers' discovery retries, the assertion keys' refresh). Requests are
// still served.
func (s *Server) Close() {
	s.shared.discoveries.close()
	if s.shared.signer != nil {
		s.shared.signer.Keys().Close()
	}
}

// Update builds the data plane for snap and puts it in force. A provider
// that cannot be built is left out and returned, for the caller to log
// with the providers snap itself rejected; the rest serve.
func (s *Server) Update(snap *outpostapi.Snapshot) []outpostapi.ProviderError {
	s.updating.Lock()
	defer s.updating.Unlock()
	defer s.shared.codecs.Rotate()
	apps := make(map[*outpostapi.Provider]*application, len(snap.Providers))
	st := &dataPlane{snap: snap, other: s.opts.Metrics.Host(snap.Outpost.Name, metrics.OtherHost),
		apps: make(map[string]*application, len(snap.Providers)), leftOut: map[string]string{},
		leftOutHosts: map[string]outpostapi.ProviderError{}}
	var failed []outpostapi.ProviderError
	for i := range snap.Providers {
		p := &snap.Providers[i]
		app, perr := newApplication(p, snap, s.opts, s.shared)
		if perr != nil {
			failed = append(failed, *perr)
			st.leftOut[p.Name] = "left out of the data plane: " + perr.Field + ": " + perr.Err
			if p.ExternalURL != nil {
				st.leftOutHosts[strings.ToLower(p.ExternalURL.Host)] = *perr
			}
			continue
		}
		apps[p] = app
		st.apps[p.Name] = app
	}
	for _, rej := range snap.Rejected {
		if _, built := st.apps[rej.Provider]; !built {
			st.leftOut[rej.Provider] = "rejected: " + rej.Field + ": " + rej.Err
		}
	}
	st.router = newRouter(snap, apps)
	// Discovery goes on for the providers built, and only for them.
	keep := make(map[string]bool, len(st.apps))
	for name := range st.apps {
		keep[name] = true
	}
	s.shared.discoveries.keep(keep)
	if s.shared.signer != nil {
		wantAssertionKeys(s.shared.signer, st.apps)
	}
	s.reportProviders(s.current.Load(), st)
	s.current.Store(st)
	s.announceRedirectURIs(apps)
	s.refreshFailed.Store(nil)
	return failed
}

// reportProviders sets the readiness metric of every provider of next and
// drops the series of those only prev had.
func (s *Server) reportProviders(prev, next *dataPlane) {
	m := s.opts.Metrics
	for name, app := range next.apps {
		if d := app.oidc.discovery; d != nil {
			s.shared.discoveries.report(d)
		} else {
			m.ProviderReady(name, true)
		}
	}
	for name := range next.leftOut {
		m.ProviderReady(name, false)
	}
	if prev == nil {
		return
	}
	gone := func(name string) bool {
		_, built := next.apps[name]
		_, left := next.leftOut[name]
		return !built && !left
	}
	for name := range prev.apps {
		if gone(name) {
			m.ForgetProvider(name)
		}
	}
	// A host's series go with the last provider serving it (a host may
	// move from one provider to another across a refresh).
	served := make(map[string]bool, len(next.apps))
	for _, app := range next.apps {
		served[app.provider.ExternalURL.Host] = true
	}
	for _, app := range prev.apps {
		if h := app.provider.ExternalURL.Host; !served[h] {
			m.ForgetHost(h)
		}
	}
	for name := range prev.leftOut {
		if gone(name) {
			m.ForgetProvider(name)
		}
	}
}

// RefreshFailed records that a refresh failed at at and the configuration
// in force stays; readiness says so until a refresh succeeds.
func (s *Server) RefreshFailed(err error, at time.Time) {
	note := fmt.Sprintf("the configuration refresh at %s failed, the last good configuration serves: %v", at.UTC().Format(time.RFC3339), err)
	s.refreshFailed.Store(&note)
}

// Ready reports whether a configuration is loaded.
func (s *Server) Ready() bool { return s.current.Load() != nil }

// Readiness is Ready with what an operator should know while it serves: a
// failed refresh, and each provider that cannot sign people in yet. Those
// keep the outpost ready (ProviderReadiness answers for one provider):
// every replica shares the issuer, and a 503 for one provider would take
// the others out of service with it.
func (s *Server) Readiness() (bool, string) {
	st := s.current.Load()
	if st == nil {
		return false, ""
	}
	var notes []string
	if note := s.refreshFailed.Load(); note != nil {
		notes = append(notes, *note)
	}
	for i := range st.snap.Providers {
		name := st.snap.Providers[i].Name
		if app := st.apps[name]; app != nil {
			if ok, note := app.oidc.status(); !ok {
				notes = append(notes, fmt.Sprintf("provider %q not ready: %s", name, note))
			}
		}
	}
	return true, strings.Join(notes, "; ")
}

// ProviderReadiness says whether the named provider of the configuration in
// force can sign people in, and if not why (metrics.ProviderReadyFunc).
func (s *Server) ProviderReadiness(name string) (found, ready bool, note string) {
	st := s.current.Load()
	if st == nil {
		return false, false, ""
	}
	if app := st.apps[name]; app != nil {
		ready, note = app.oidc.status()
		return true, ready, note
	}
	if why, ok := st.leftOut[name]; ok {
		return true, false, why
	}
	return false, false, ""
}

// Snapshot is the configuration in force, or nil before the first one.
func (s *Server) Snapshot() *outpostapi.Snapshot {
	if st := s.current.Load(); st != nil {
		return st.snap
	}
	return nil
}

// reservedPrefix is the path prefix the outpost keeps for itself on every host.
const (
	reservedPrefix = "/outpost.goauthentik.io"
	staticPrefix   = reservedPrefix + "/static"
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// Both live as long as the request: one allocation.
	st := &struct {
		rec  responseRecorder
		info requestInfo
	}{rec: responseRecorder{ResponseWriter: w}}
	rec, info := &st.rec, &st.info
	kind, hm := s.serve(rec, r, info)
	took := time.Since(start)
	if info.span != nil {
		method, _ := info.requested(r)
		endRequest(info, method, kind, rec.statusCode())
	}
	hm.Request(r.Method, kind, rec.statusCode(), took)
	// Probes would drown the log; they are in the metrics.
	if kind != metrics.KindPing {
		s.logAccess(r, info, rec, start, took)
	}
}

// serve handles one request and says what kind it was and whose metrics
// it counts in.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, info *requestInfo) (string, *metrics.Host) {
	st := s.current.Load()
	other := s.other
	if st != nil {
		other = st.other
	}
	switch r.URL.Path {
	case metrics.PingPath:
		metrics.Ping(w, r)
		return metrics.KindPing, other
	case metrics.ReadyPath:
		metrics.Readiness(s.Readiness, s.ProviderReadiness).ServeHTTP(w, r)
		return metrics.KindPing, other
	}
	// Forwarding headers from an untrusted peer are gone after this; the
	// origin is what routing, logs and everything after it use.
	info.origin = s.trust.resolve(r)
	info.id = r.Header.Get("X-Request-Id")
	if !info.origin.Trusted || !validRequestID(info.id) {
		info.id, info.newID = newRequestID(), true
		// The upstream request gets it in Rewrite, with the other
		// headers the outpost adds: setting it here grew the header map.
		delete(r.Header, "X-Request-Id")
	}
	info.idLine[0] = info.id
	w.Header()["X-Request-Id"] = info.idLine[:]
	if s.tracer != nil {
		r = r.WithContext(s.startRequest(r, info))
	}
	r = withInfo(r, info)
	// A forward-auth request is decided on the original request it carries,
	// for the application that request's host names.
	if kind := forwardKindOf(r.URL.EscapedPath()); kind != forwardNone && st != nil {
		if hm, ok := s.serveForward(w, r, st, kind); ok {
			return metrics.KindApp, hm
		}
	}
	if ambiguousPath(r) {
		s.log.Warn("refused an ambiguous path", "path", r.URL.EscapedPath(), "client_ip", clientIPString(info.origin), "request_id", info.id)
		writePage(w, r, http.StatusBadRequest, "Bad request", "ambiguous path: encoded slashes, backslashes and # are not accepted", "")
		return metrics.KindApp, other
	}
	if redirectNonCanonical(w, r) {
		return metrics.KindApp, other
	}
	// The outpost's static prefix is its own on every host: pages embed
	// what they need, so it serves nothing there, and nothing under it may
	// reach an upstream.
	if r.URL.Path == staticPrefix || strings.HasPrefix(r.URL.Path, staticPrefix+"/") {
		http.NotFound(w, r)
		return metrics.KindStatic, other
	}
	if st == nil {
		w.Header().Set("Retry-After", "5")
		writePage(w, r, http.StatusServiceUnavailable, "Starting", "outpost is starting: no configuration loaded yet. Try again in a few seconds.", "",
			pageLink{ID: "retry", Href: selfURL(r), Text: "Try again"})
		return metrics.KindApp, other
	}
	app := st.router.route(info.origin.Host)
	if app == nil {
		s.unknownHost(w, r, st, info.origin.Host)
		return metrics.KindApp, other
	}
	info.provider = app.provider.Name
	app.ServeHTTP(w, r)
	return metrics.KindApp, app.metrics
}

// unknownHost answers a request for a host no provider serves: the
// reference's 400 body, byte for byte, to anything but a browser, and a page
// saying what the outpost knows to a browser. A provider that was left out
// for the host is named in the log, for the operator; random Host headers
// from scanners are only a debug line.
func (s *Server) unknownHost(w http.ResponseWriter, r *http.Request, st *dataPlane, host string) {
	msg := "No application is configured for " + host + " on this outpost."
	if perr, ok := st.leftOutHosts[strings.ToLower(host)]; ok {
		s.log.Warn("request for the host of a provider left out of the configuration", "host", host,
			"provider", perr.Provider, "field", perr.Field, "error", perr.Err, "request_id", requestID(r))
		msg = "The application for " + host + " is configured, but its configuration was refused. The outpost's log says why."
	} else {
		s.log.Debug("request for a host no provider serves", "host", host, "request_id", requestID(r))
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		noAppForHost(w, host)
		return
	}
	writePage(w, r, http.StatusBadRequest, "Unknown application", msg,
		"Check the outpost settings and make sure '"+host+"' is included.")
}

// noAppForHost is the reference's 400 body, byte for byte (tab-indented).
func noAppForHost(w http.ResponseWriter, host string) {
	body, _ := json.MarshalIndent(struct {
		Message string
		Host    string
		Detail  string
	}{"no app for hostname", host, "Check the outpost settings and make sure '" + host + "' is included."}, "", "\t")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(body)
}
