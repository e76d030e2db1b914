package metrics

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OtherHost is the host label of every request that no provider serves:
// label values come only from configuration, so anyone sending random Host
// headers cannot grow the number of series.
const OtherHost = "other"

// Decision results and authentication methods (outpost_auth_decisions_total).
const (
	ResultAllowed       = "allowed"
	ResultLoginRedirect = "login_redirect"
	ResultUnauthorized  = "unauthorized"
	ResultDenied        = "denied"

	MethodSession = "session"
	MethodBearer  = "bearer"
	MethodBasic   = "basic"
	MethodSkipped = "skipped"
	MethodNone    = "none"
)

// Request kinds of authentik_outpost_proxy_request_duration_seconds.
const (
	KindPing   = "ping"
	KindStatic = "static"
	KindApp    = "app"
)

// Proxy is the data plane's metrics. The zero value is not usable; make one
// with NewProxy. A Proxy works unregistered (tests, benchmarks).
type Proxy struct {
	requestDuration  *prometheus.HistogramVec
	responses        *prometheus.CounterVec
	decisions        *prometheus.CounterVec
	loginsStarted    *prometheus.CounterVec
	loginsSucceeded  *prometheus.CounterVec
	loginsFailed     *prometheus.CounterVec
	refreshes        *prometheus.CounterVec
	upstreamErrors   *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	storeErrors      *prometheus.CounterVec
	limited          *prometheus.CounterVec
	providerReady    *prometheus.GaugeVec
	assertions       *prometheus.CounterVec
	assertionKeys    *prometheus.CounterVec
	stepUps          *prometheus.CounterVec
	// assertionByResult are assertions' series, by AssertionResults
	// index: counted on every request that carries an assertion.
	assertionByResult [3]prometheus.Counter
}

// NewProxy makes the data-plane metrics.
func NewProxy() *Proxy {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	p := &Proxy{
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_proxy_request_duration_seconds",
			Help: "Time to answer a request on the main listeners (type: ping, static or app).",
		}, []string{"outpost_name", "method", "host", "type"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authentik_outpost_proxy_upstream_response_duration_seconds",
			Help: "Time until the upstream's response headers, in proxy mode.",
		}, []string{"outpost_name", "method", "scheme", "host", "upstream_host"}),
		responses: counter("outpost_requests_total",
			"Requests answered on the main listeners, by provider host and status class (2xx, 3xx, 4xx, 5xx).",
			"host", "status_class"),
		decisions: counter("outpost_auth_decisions_total",
			"Authorization decisions, by result (allowed, login_redirect, unauthorized, denied) and method (session, bearer, basic, skipped, none).",
			"host", "result", "method"),
		loginsStarted: counter("outpost_logins_started_total",
			"Sign-ins started: the browser was sent to the identity provider.", "host"),
		loginsSucceeded: counter("outpost_logins_succeeded_total",
			"Sign-ins completed with a verified token and a stored session.", "host"),
		loginsFailed: counter("outpost_logins_failed_total",
			"Sign-ins that failed at the callback, by reason.", "host", "reason"),
		refreshes: counter("outpost_token_refreshes_total",
			"Refresh-token redemptions, by result (success, failure).", "host", "result"),
		upstreamErrors: counter("outpost_upstream_errors_total",
			"Proxied requests the upstream did not answer, by kind (refused, timeout, dns, tls, reset, other).",
			"host", "kind"),
		limited: counter("outpost_credentials_rate_limited_total",
			"Credentials not checked because the client IP sent too many wrong ones (answered 429).", "host"),
		storeErrors: counter("outpost_session_store_errors_total",
			"Session store operations that failed (the request was refused, never passed).", "op"),
		assertions: counter("outpost_assertion_signed_total",
			"Identity assertions handed to apps, by result: signed (a new signature), cached (one signed earlier for the session), failed (not signed: the request was refused).",
			"result"),
		assertionKeys: counter("outpost_assertion_key_events_total",
			"Identity assertion signing key events, by event: rotated (a new key started signing), error (the keys could not be loaded or made).",
			"event"),
		stepUps: counter("outpost_step_up_total",
			"Step-up sign-ins (docs/step-up.md), by result: required (a session's sign-in was too old or at another level for the rule: sent to sign in again, or a 401), satisfied (the new sign-in met the rule), refused (the identity provider came back with a sign-in that still did not: 403).",
			"host", "result"),
		providerReady: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "outpost_provider_ready",
			Help: "1 while the provider can sign people in, 0 while it cannot (its issuer's discovery failed or is pending, or it was left out of the data plane).",
		}, []string{"provider"}),
	}
	for _, op := range StoreOps {
		p.storeErrors.WithLabelValues(op)
	}
	for i, r := range AssertionResults {
		p.assertionByResult[i] = p.assertions.WithLabelValues(r)
	}
	for _, e := range []string{"rotated", "error"} {
		p.assertionKeys.WithLabelValues(e)
	}
	return p
}

// vector is what every vector of Proxy is: registered, and emptied of a
// host's series (a vector without a host label matches none).
type vector interface {
	prometheus.Collector
	DeletePartialMatch(prometheus.Labels) int
}

// vectors are all of Proxy's vectors: the one list that both registration
// and ForgetHost read, so a new vector cannot be left out of either.
func (p *Proxy) vectors() []vector {
	return []vector{p.requestDuration, p.upstreamDuration, p.responses, p.decisions,
		p.loginsStarted, p.loginsSucceeded, p.loginsFailed, p.refreshes, p.upstreamErrors, p.storeErrors, p.limited, p.providerReady,
		p.assertions, p.assertionKeys, p.stepUps}
}

func (p *Proxy) register(reg prometheus.Registerer) {
	for _, v := range p.vectors() {
		reg.MustRegister(v)
	}
}

// ProviderReady records whether a provider of the configuration in force
// can sign people in. name comes from configuration.
func (p *Proxy) ProviderReady(name string, ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	p.providerReady.WithLabelValues(name).Set(v)
}

// ForgetProvider drops the series of a provider no longer configured.
func (p *Proxy) ForgetProvider(name string) { p.providerReady.DeleteLabelValues(name) }

// ForgetHost drops every series of a provider host no longer configured.
// Without it each host that ever served kept about thirty series (and
// their memory) for the life of the process: an outpost whose
// configuration swapped 1,000 providers in and out held 20 MB more heap
// after they left. A host that comes back starts its counters at 0,
// which rate() reads as a reset.
func (p *Proxy) ForgetHost(host string) {
	if host == OtherHost {
		return
	}
	match := prometheus.Labels{"host": host}
	for _, v := range p.vectors() {
		v.DeletePartialMatch(match)
	}
}

// The bounded label values of counters exported at 0 before their first
// event, so dashboards and rate() alerts see a series from start-up.
var (
	// LoginFailureReasons are outpost_logins_failed_total's reasons.
	LoginFailureReasons = []string{"invalid_state", "attempt_cookie_missing", "idp_refused", "missing_code",
		"idp_unreachable", "code_exchange", "token_invalid", "session_store", "session_cookie"}
	// UpstreamErrorKinds are outpost_upstream_errors_total's kinds.
	UpstreamErrorKinds = []string{"refused", "timeout", "dns", "tls", "reset", "other"}
	// StoreOps are outpost_session_store_errors_total's operations.
	StoreOps = []string{"get", "save", "delete", "delete_by_sid", "delete_by_sub", "len", "lock", "first_use", "forget", "signing_key"}
	// AssertionResults are outpost_assertion_signed_total's results
	// (assertion.Results).
	AssertionResults = []string{"signed", "cached", "failed"}
	// decisionPairs are the results with the methods each is counted with.
	decisionPairs = map[string][]string{
		ResultAllowed:       {MethodSession, MethodBearer, MethodBasic, MethodSkipped},
		ResultLoginRedirect: {MethodNone},
		ResultUnauthorized:  {MethodNone},
		ResultDenied:        {MethodSession, MethodBearer, MethodBasic},
	}
	refreshResults = []string{"success", "failure"}
	// StepUpResults are outpost_step_up_total's results.
	StepUpResults = []string{StepUpRequired, StepUpSatisfied, StepUpRefused}
)

// Step-up results (outpost_step_up_total).
const (
	StepUpRequired  = "required"
	StepUpSatisfied = "satisfied"
	StepUpRefused   = "refused"
)

// StoreError counts a failed session-store operation (get, save, delete…).
func (p *Proxy) StoreError(op string) { p.storeErrors.WithLabelValues(op).Inc() }

// Host is the metrics of one provider host (or OtherHost) in one outpost.
type Host struct {
	p       *Proxy
	outpost string
	host    string

	// The series every request touches, looked up once per label
	// combination instead of hashing the labels under the vector's lock
	// on every request. Filled lazily: a series appears in /metrics only
	// once it has been counted, as without the cache.
	durations [len(methodLabels)][len(kindLabels)]atomic.Pointer[prometheus.Observer]
	responses [len(statusClassLabels)]atomic.Pointer[prometheus.Counter]
	decisions [len(resultLabels)][len(decisionMethodLabels)]atomic.Pointer[prometheus.Counter]
	// upstream is the upstream-duration series of the first upstream host
	// this host's requests went to (its internal_host, as a rule); any
	// other (backend_override) is looked up per request.
	upstream atomic.Pointer[upstreamSeries]
}

// upstreamSeries are the upstream-duration series of one upstream host.
type upstreamSeries struct {
	host string
	obs  [len(methodLabels)][len(schemeLabels)]atomic.Pointer[prometheus.Observer]
}

// Host returns the metrics handle for a provider's host. host must come from
// configuration, never from a request. A provider's host gets its sign-in,
// refresh, upstream and decision counters at 0 here, when a configuration
// names it: only then is the host label known.
func (p *Proxy) Host(outpost, host string) *Host {
	if host != OtherHost {
		p.loginsStarted.WithLabelValues(host)
		p.loginsSucceeded.WithLabelValues(host)
		p.limited.WithLabelValues(host)
		for _, r := range LoginFailureReasons {
			p.loginsFailed.WithLabelValues(host, r)
		}
		for _, r := range refreshResults {
			p.refreshes.WithLabelValues(host, r)
		}
		for _, k := range UpstreamErrorKinds {
			p.upstreamErrors.WithLabelValues(host, k)
		}
		for _, r := range StepUpResults {
			p.stepUps.WithLabelValues(host, r)
		}
		for r, methods := range decisionPairs {
			for _, m := range methods {
				p.decisions.WithLabelValues(host, r, m)
			}
		}
	}
	return &Host{p: p, outpost: outpost, host: host}
}

// Label values of the cached series, by index.
var (
	methodLabels = [...]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace, "other"}
	kindLabels           = [...]string{KindPing, KindStatic, KindApp}
	statusClassLabels    = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}
	resultLabels         = [...]string{ResultAllowed, ResultLoginRedirect, ResultUnauthorized, ResultDenied}
	decisionMethodLabels = [...]string{MethodSession, MethodBearer, MethodBasic, MethodSkipped, MethodNone}
	schemeLabels         = [...]string{"http", "https"}
)

// labelIndex is v's position in labels, or -1.
func labelIndex(labels []string, v string) int {
	for i, l := range labels {
		if l == v {
			return i
		}
	}
	return -1
}

// cached returns *slot, first filling it with make().
func cached[T any](slot *atomic.Pointer[T], make func() T) T {
	if v := slot.Load(); v != nil {
		return *v
	}
	v := make()
	slot.Store(&v) // a racing store holds the same series
	return v
}

// Request records one answered request.
func (h *Host) Request(method, kind string, status int, took time.Duration) {
	m := labelIndex(methodLabels[:], Method(method))
	if k := labelIndex(kindLabels[:], kind); k >= 0 {
		cached(&h.durations[m][k], func() prometheus.Observer {
			return h.p.requestDuration.WithLabelValues(h.outpost, methodLabels[m], h.host, kindLabels[k])
		}).Observe(took.Seconds())
	} else {
		h.p.requestDuration.WithLabelValues(h.outpost, methodLabels[m], h.host, kind).Observe(took.Seconds())
	}
	c := 0 // "other"
	if status >= 100 && status <= 599 {
		c = status / 100
	}
	cached(&h.responses[c], func() prometheus.Counter {
		return h.p.responses.WithLabelValues(h.host, statusClassLabels[c])
	}).Inc()
}

// Decision records an authorization decision.
func (h *Host) Decision(result, method string) {
	r, m := labelIndex(resultLabels[:], result), labelIndex(decisionMethodLabels[:], method)
	if r < 0 || m < 0 {
		h.p.decisions.WithLabelValues(h.host, result, method).Inc()
		return
	}
	cached(&h.decisions[r][m], func() prometheus.Counter {
		return h.p.decisions.WithLabelValues(h.host, result, method)
	}).Inc()
}

// LoginStarted records a browser sent to the identity provider.
func (h *Host) LoginStarted() { h.p.loginsStarted.WithLabelValues(h.host).Inc() }

// LoginSucceeded records a completed sign-in.
func (h *Host) LoginSucceeded() { h.p.loginsSucceeded.WithLabelValues(h.host).Inc() }

// LoginFailed records a failed sign-in; reason is a fixed word from the
// caller, never text from the identity provider.
func (h *Host) LoginFailed(reason string) { h.p.loginsFailed.WithLabelValues(h.host, reason).Inc() }

// TokenRefresh records one refresh-token redemption.
func (h *Host) TokenRefresh(ok bool) {
	result := "success"
	if !ok {
		result = "failure"
	}
	h.p.refreshes.WithLabelValues(h.host, result).Inc()
}

// StepUp records a step-up outcome, one of StepUpResults.
func (h *Host) StepUp(result string) { h.p.stepUps.WithLabelValues(h.host, result).Inc() }

// CredentialsLimited records a credential refused unchecked: its client IP
// is over its budget of wrong ones.
func (h *Host) CredentialsLimited() { h.p.limited.WithLabelValues(h.host).Inc() }

// UpstreamError records an upstream that did not answer.
func (h *Host) UpstreamError(kind string) { h.p.upstreamErrors.WithLabelValues(h.host, kind).Inc() }

// UpstreamResponse records the time to an upstream's response headers.
// upstreamHost must come from configuration.
func (h *Host) UpstreamResponse(method, scheme, upstreamHost string, took time.Duration) {
	u := h.upstream.Load()
	if u == nil {
		h.upstream.CompareAndSwap(nil, &upstreamSeries{host: upstreamHost})
		u = h.upstream.Load()
	}
	m, s := labelIndex(methodLabels[:], Method(method)), labelIndex(schemeLabels[:], scheme)
	series := func() prometheus.Observer {
		return h.p.upstreamDuration.WithLabelValues(h.outpost, methodLabels[m], scheme, h.host, upstreamHost)
	}
	if u.host != upstreamHost || s < 0 {
		series().Observe(took.Seconds())
		return
	}
	cached(&u.obs[m][s], series).Observe(took.Seconds())
}

// Method is the method label: the standard methods, anything else "other".
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}
