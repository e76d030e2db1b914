package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
)

// A standalone provider's discovery is tried as soon as the provider is put
// in force (start-up and every reload), not at the first sign-in: a wrong
// or unreachable issuer shows in the log, readiness and metrics at once.
// While it fails it is retried in the background, from discoveryBackoffMin
// doubling to discoveryBackoffMax, for as long as the provider stays
// configured.
const (
	discoveryBackoffMin = time.Second
	discoveryBackoffMax = time.Minute
	// discoveryWait bounds how long a request waits for a first attempt
	// still in flight; after a failure nobody waits.
	discoveryWait = 5 * time.Second
)

// discovered is one successful discovery of an issuer.
type discovered struct {
	op   *oidc.Provider
	meta discoveryMeta
	at   time.Time
}

// discoveryMeta is what the outpost reads from the discovery document
// beyond what go-oidc exposes.
type discoveryMeta struct {
	EndSession    string   `json:"end_session_endpoint"`
	JWKS          string   `json:"jwks_uri"`
	Introspection string   `json:"introspection_endpoint"`
	Algs          []string `json:"id_token_signing_alg_values_supported"`
}

// discovery keeps one standalone provider's discovery document, retrying in
// the background while there is none. It outlives snapshots (discoveries),
// so a reload that cannot reach the issuer keeps the document it had.
type discovery struct {
	provider string
	issuer   string
	// url is the discovery document's address, for logs and readiness.
	url      string
	client   *http.Client
	log      *slog.Logger
	minDelay time.Duration
	// changed is told after every finished attempt (the metric).
	changed func(*discovery)
	// kick asks the loop for an attempt now; restart also resets the
	// backoff (a reload: a fresh start, not the 40th retry).
	kick    chan struct{}
	restart atomic.Bool
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	doc      *discovered
	err      error // the last attempt's failure, nil once one succeeds
	failures int   // in a row
	retryAt  time.Time
	// first is closed when the first attempt finishes.
	first chan struct{}
}

func newDiscovery(p *outpostapi.Provider, client *http.Client, log *slog.Logger, minDelay time.Duration, changed func(*discovery)) *discovery {
	ctx, cancel := context.WithCancel(context.Background())
	d := &discovery{
		provider: p.Name, issuer: p.Issuer, url: strings.TrimSuffix(p.Issuer, "/") + "/.well-known/openid-configuration",
		client: client, log: log, minDelay: minDelay, changed: changed,
		kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), first: make(chan struct{}),
	}
	go d.run(ctx)
	return d
}

// stop ends the loop (the provider went away) and waits for it.
func (d *discovery) stop() {
	d.cancel()
	<-d.done
}

// again asks for an attempt now; reload also resets the backoff.
func (d *discovery) again(reload bool) {
	if reload {
		d.restart.Store(true)
	}
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *discovery) run(ctx context.Context) {
	defer close(d.done)
	delay := d.minDelay
	for {
		last := time.Now()
		err := d.attempt(ctx)
		if ctx.Err() != nil {
			return
		}
		var retry <-chan time.Time
		var timer *time.Timer
		if err != nil {
			timer = time.NewTimer(delay)
			retry = timer.C
			d.failed(err, delay)
			delay = min(2*delay, discoveryBackoffMax)
		} else {
			delay = d.minDelay
		}
		select {
		case <-ctx.Done():
			stopTimer(timer)
			return
		case <-retry:
		case <-d.kick:
			stopTimer(timer)
			if d.restart.Swap(false) {
				delay = d.minDelay
			}
			// Asked by sign-ins, at most once per minDelay.
			if wait := d.minDelay - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// attempt fetches the discovery document once and records the outcome.
func (d *discovery) attempt(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, backchannelTimeout)
	op, err := oidc.NewProvider(oidc.ClientContext(actx, d.client), d.issuer)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err() // the provider went away: nothing to record
	}
	var meta discoveryMeta
	if err == nil {
		_ = op.Claims(&meta)
	} else {
		err = fmt.Errorf("OIDC discovery at %s: %w", d.url, err)
	}
	d.mu.Lock()
	had, failures := d.doc != nil, d.failures
	if err != nil {
		d.err = err
		d.failures++
	} else {
		d.doc, d.err, d.failures = &discovered{op: op, meta: meta, at: time.Now()}, nil, 0
	}
	first := d.first
	d.first = nil
	d.mu.Unlock()
	if first != nil {
		close(first)
	}
	switch {
	case err != nil:
		// Logged with the retry time by failed.
	case failures > 0:
		d.log.Info("OIDC discovery succeeded: the provider can sign people in", "provider", d.provider, "url", d.url, "failed_attempts", failures)
	case !had:
		d.log.Info("OIDC discovery succeeded", "provider", d.provider, "url", d.url)
	}
	d.changed(d)
	return err
}

// failed logs a failed attempt: the first at error level, the retries as
// warnings, each with when the next one is.
func (d *discovery) failed(err error, delay time.Duration) {
	d.mu.Lock()
	d.retryAt = time.Now().Add(delay)
	attempt, serving := d.failures, d.doc
	d.mu.Unlock()
	args := []any{"provider", d.provider, "url", d.url, "attempt", attempt, "retry_in", delay.String(), "error", err}
	switch {
	case serving != nil:
		d.log.Warn("OIDC discovery failed; the document discovered before still serves", append(args, "discovered_at", serving.at.UTC().Format(time.RFC3339))...)
	case attempt == 1:
		d.log.Error("OIDC discovery failed: the provider cannot sign anyone in until it succeeds; retrying in the background", args...)
	default:
		d.log.Warn("OIDC discovery failed again", args...)
	}
}

// status says whether the provider can sign people in and, if an operator
// should know something, what.
func (d *discovery) status() (ready bool, note string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.doc != nil && d.err != nil:
		return true, fmt.Sprintf("the last discovery failed (%v); the document discovered at %s serves", d.err, d.doc.at.UTC().Format(time.RFC3339))
	case d.doc != nil:
		return true, ""
	case d.err != nil:
		next := ""
		if !d.retryAt.IsZero() {
			next = ", next at " + d.retryAt.UTC().Format(time.RFC3339)
		}
		return false, fmt.Sprintf("%v (%d attempts failed, retrying in the background%s)", d.err, d.failures, next)
	}
	return false, "OIDC discovery at " + d.url + " has not finished yet"
}

// current is the discovered document. Without one, a request waits for a
// first attempt still in flight (at most discoveryWait); after a failure it
// gets the failure at once, and asks for an early retry.
func (d *discovery) current(ctx context.Context) (*discovered, error) {
	d.mu.Lock()
	doc, first := d.doc, d.first
	d.mu.Unlock()
	if doc != nil {
		return doc, nil
	}
	if first != nil {
		t := time.NewTimer(discoveryWait)
		select {
		case <-first:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	d.mu.Lock()
	doc, err := d.doc, d.err
	d.mu.Unlock()
	if doc != nil {
		return doc, nil
	}
	d.again(false)
	if err == nil {
		err = fmt.Errorf("OIDC discovery at %s has not finished yet", d.url)
	}
	return nil, err
}

// discoveries are the discovery loops of the providers in force, by name.
// Shared by every snapshot: a reload keeps a provider's loop (and its
// document) while its issuer stays, and stops the loops of the providers
// it drops.
type discoveries struct {
	log     *slog.Logger
	metrics *metrics.Proxy

	mu sync.Mutex
	m  map[string]*discovery
	// minDelay is the first retry's delay (only tests shorten it).
	minDelay time.Duration
}

func newDiscoveries(log *slog.Logger, m *metrics.Proxy) *discoveries {
	return &discoveries{log: log, metrics: m, m: map[string]*discovery{}, minDelay: discoveryBackoffMin}
}

// use returns p's discovery: the running one, asked to try again now (a
// reload tries every provider's discovery), or a new one. client fetches
// the document.
func (ds *discoveries) use(p *outpostapi.Provider, client *http.Client) *discovery {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if d := ds.m[p.Name]; d != nil {
		if d.issuer == p.Issuer {
			d.again(true)
			return d
		}
		// Another issuer: the old document says nothing about it.
		d.cancel()
	}
	d := newDiscovery(p, client, ds.log, ds.minDelay, ds.report)
	ds.m[p.Name] = d
	return d
}

// report sets the readiness metric of d's provider, if d is still the one
// in force for it.
func (ds *discoveries) report(d *discovery) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if ds.m[d.provider] != d {
		return
	}
	ready, _ := d.status()
	ds.metrics.ProviderReady(d.provider, ready)
}

// keep stops the loops of every provider not in names (gone from the
// configuration, or left out of the data plane).
func (ds *discoveries) keep(names map[string]bool) {
	ds.mu.Lock()
	var gone []*discovery
	for name, d := range ds.m {
		if !names[name] {
			gone = append(gone, d)
			delete(ds.m, name)
		}
	}
	ds.mu.Unlock()
	for _, d := range gone {
		d.stop()
	}
}

// close stops every loop.
func (ds *discoveries) close() { ds.keep(nil) }
