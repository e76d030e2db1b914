package outpostapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/outpost-dev/outpost/internal/reuse"
)

// CoreOptions configure a CoreSource. Zero durations take the spec's values
// (the Default* constants).
type CoreOptions struct {
	Logger *slog.Logger
	// Version is sent in HELLO and User-Agent; the core parses it as PEP 440.
	Version   string
	BuildHash string
	// InstanceUUID identifies this process to the core; random when empty.
	InstanceUUID string

	HelloInterval    time.Duration // HELLO period
	ReadTimeout      time.Duration // websocket silence that means the core is gone
	HandshakeTimeout time.Duration // websocket dial + handshake
	BackoffMin       time.Duration // first reconnect/retry delay (before jitter)
	BackoffMax       time.Duration // cap of the doubling delay
	OutpostRetry     time.Duration // startup retry period of the outpost list
	TriggerDelayMax  time.Duration // upper bound of the HA offset before a TRIGGER_UPDATE refresh
	CloseWait        time.Duration // how long to wait for the core's close reply
}

// Defaults of CoreOptions (spec §1.4, §2.3; the backoff cap is one of the
// deliberate improvements).
const (
	DefaultHelloInterval    = 10 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultBackoffMin       = 1 * time.Second
	DefaultBackoffMax       = 30 * time.Second
	DefaultOutpostRetry     = 3 * time.Second
	DefaultTriggerDelayMax  = 9 * time.Second
	DefaultCloseWait        = 1 * time.Second
)

func (o CoreOptions) withDefaults() CoreOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HelloInterval, DefaultHelloInterval)
	def(&o.ReadTimeout, DefaultReadTimeout)
	def(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, DefaultBackoffMax)
	def(&o.OutpostRetry, DefaultOutpostRetry)
	def(&o.TriggerDelayMax, DefaultTriggerDelayMax)
	def(&o.CloseWait, DefaultCloseWait)
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Version == "" {
		o.Version = "0.0.0"
	}
	if o.InstanceUUID == "" {
		o.InstanceUUID = uuid.NewString()
	}
	return o
}

// ErrNoOutposts is returned by Run when the token sees no outpost at all: no
// amount of retrying fixes that.
var ErrNoOutposts = errors.New("no outposts found for AUTHENTIK_TOKEN: the core knows the token but its user can see no outpost (use the outpost's own API token, ak-outpost-<uuid>-api)")

// maxQueuedSessionEnds bounds revocations waiting for OnSessionEnd.
const maxQueuedSessionEnds = 100_000

// CoreSource is the configuration source backed by a core: REST for the
// configuration, the websocket for triggers and session ends (spec §1.4,
// §2, §3).
type CoreSource struct {
	core     CoreEndpoint
	opts     CoreOptions
	log      *slog.Logger
	client   *Client
	haOffset time.Duration
	trigger  chan struct{} // capacity 1: triggers coalesce
	running  atomic.Bool

	mu      sync.Mutex
	delayed *time.Timer // pending TRIGGER_UPDATE refresh
	stopped bool

	// Owned by the refresh goroutine. Compiling skip_path_regex is most of
	// validating a provider (about 4 of 7 µs), and a refresh mostly sees
	// the values of the last one, or one value shared by many providers.
	skipPaths reuse.Cache[string, []*regexp.Regexp]
	certs     map[string]Certificate
	last      *Snapshot
	interval  time.Duration
}

// NewCoreSource prepares a source for the core at core (which must have
// Host and Token). Nothing happens until Run.
func NewCoreSource(core CoreEndpoint, opts CoreOptions) *CoreSource {
	opts = opts.withDefaults()
	return &CoreSource{
		core:     core,
		opts:     opts,
		log:      opts.Logger,
		client:   NewClient(core, opts.Version, opts.BuildHash),
		haOffset: haOffset(opts.TriggerDelayMax),
		trigger:  make(chan struct{}, 1),
		certs:    map[string]Certificate{},
		interval: ClampRefreshInterval(0),
	}
}

// haOffset is the per-process delay before acting on TRIGGER_UPDATE: whole
// seconds from 0 to max, so the replicas of an outpost do not all hit the
// core in the same instant.
func haOffset(max time.Duration) time.Duration {
	if max < time.Second {
		return rand.N(max + 1)
	}
	return time.Duration(rand.N(int64(max/time.Second)+1)) * time.Second
}

// HAOffset is this process's delay between a TRIGGER_UPDATE and its refresh.
func (s *CoreSource) HAOffset() time.Duration { return s.haOffset }

// Client is the source's REST client, for other calls to the core (e.g.
// PostEvent for forward-auth configuration errors).
func (s *CoreSource) Client() *Client { return s.client }

// InstanceUUID is the id this process reports to the core.
func (s *CoreSource) InstanceUUID() string { return s.opts.InstanceUUID }

// TriggerRefresh asks for a full refresh now (SIGUSR1). It never blocks;
// requests made while one is pending or running coalesce into one more.
func (s *CoreSource) TriggerRefresh() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// triggerAfterOffset handles TRIGGER_UPDATE: refresh after the HA offset,
// unless such a refresh is already pending.
func (s *CoreSource) triggerAfterOffset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delayed != nil || s.stopped {
		return
	}
	s.log.Debug("core asked for a refresh", "delay", s.haOffset)
	s.delayed = time.AfterFunc(s.haOffset, func() {
		s.mu.Lock()
		s.delayed = nil
		s.mu.Unlock()
		s.TriggerRefresh()
	})
}

// Run talks to the core until ctx is done. It returns early only for a
// condition retrying cannot fix (ErrNoOutposts, a missing AUTHENTIK_HOST).
// A core that is down or rejects the token is retried, never fatal.
func (s *CoreSource) Run(ctx context.Context, h Handlers) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("outpostapi: CoreSource.Run called twice")
	}
	if s.core.Host == nil {
		return errors.New("AUTHENTIK_HOST: is required to talk to a core")
	}
	h = h.withDefaults()
	defer s.client.CloseIdleConnections()

	op, err := s.findOutpost(ctx, h)
	if err != nil {
		return err
	}
	s.log.Info("outpost found on the core", "outpost", op.Name, "pk", op.PK, "type", op.Type)
	// Only Sentry settings live there, so failing is not worth stopping for.
	if _, err := s.client.RootConfig(ctx); err != nil {
		s.log.Warn("cannot read the core's root config; continuing without it", "error", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		s.mu.Lock()
		s.stopped = true
		if s.delayed != nil {
			s.delayed.Stop()
			s.delayed = nil
		}
		s.mu.Unlock()
		wg.Wait()
	}()

	sessions := &sessionQueue{signal: make(chan struct{}, 1), log: s.log}
	wg.Go(func() { sessions.work(ctx, h.OnSessionEnd) })

	if _, err := uuid.Parse(op.PK); err != nil {
		s.log.Error("the outpost's pk is not a UUID; running without the websocket (no live updates, no session ends)", "pk", op.PK)
	} else {
		cc := newControlChannel(s.core, op.PK, s.opts, s.log)
		cc.onConnection = h.OnConnection
		cc.onUp = s.TriggerRefresh
		cc.onMessage = func(m WebsocketMessage) { s.handleMessage(m, sessions) }
		wg.Go(func() { cc.run(ctx) })
	}

	s.refreshLoop(ctx, h)
	return context.Cause(ctx)
}

// findOutpost lists outposts until the core answers (spec §1.4 step 2).
func (s *CoreSource) findOutpost(ctx context.Context, h Handlers) (Outpost, error) {
	for {
		outs, err := s.client.outpostsForRefresh(ctx)
		if err == nil {
			if len(outs) == 0 {
				return Outpost{}, ErrNoOutposts
			}
			if len(outs) > 1 {
				s.log.Warn("the token sees several outposts (an admin token?); using the first", "count", len(outs), "outpost", outs[0].Name)
			}
			return outs[0], nil
		}
		if ctx.Err() != nil {
			return Outpost{}, ctx.Err()
		}
		s.log.Error("cannot list outposts on the core; retrying", "error", err, "retry_in", s.opts.OutpostRetry)
		h.OnRefresh(err)
		select {
		case <-ctx.Done():
			return Outpost{}, ctx.Err()
		case <-time.After(s.opts.OutpostRetry):
		}
	}
}

func (s *CoreSource) handleMessage(m WebsocketMessage, q *sessionQueue) {
	switch m.Instruction {
	case InstructionTriggerUpdate:
		s.triggerAfterOffset()
	case InstructionSessionEnd:
		if id, _ := m.Args["session_id"].(string); id != "" {
			q.push(SessionEnd{SessionID: id})
		} else {
			s.log.Warn("ignoring SESSION_END without a session_id")
		}
	case InstructionProviderSpecific:
		// Cores before 2025.8 sent proxy logouts this way (spec §19).
		if sub, _ := m.Args["sub_type"].(string); sub == "logout" {
			if id, _ := m.Args["session_id"].(string); id != "" {
				q.push(SessionEnd{SessionID: id, Legacy: true})
				return
			}
			s.log.Warn("ignoring a logout message without a session_id")
			return
		}
		s.log.Debug("ignoring provider-specific message", "sub_type", m.Args["sub_type"])
	default:
		s.log.Debug("ignoring message from the core", "instruction", m.Instruction)
	}
}

// refreshLoop is the only place refreshes run, so they never overlap.
func (s *CoreSource) refreshLoop(ctx context.Context, h Handlers) {
	retry := s.opts.BackoffMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.trigger:
		}
		// A trigger that came before this refresh starts is served by it.
		select {
		case <-s.trigger:
		default:
		}
		err := s.refresh(ctx, h)
		if ctx.Err() != nil {
			return
		}
		h.OnRefresh(err)
		next := s.interval
		switch {
		case err == nil:
			retry = s.opts.BackoffMin
		case s.last == nil:
			// No configuration yet, so nothing is served: retry soon.
			next = jitter(retry)
			retry = min(retry*2, s.opts.BackoffMax)
			s.log.Error("cannot load the configuration from the core; retrying", "error", err, "retry_in", next)
		default:
			s.log.Error("configuration refresh failed; keeping the last good configuration", "error", err, "next", next)
		}
		timer.Reset(next)
	}
}

// refresh is one full refresh (spec §3.3): outpost, providers, certificates,
// validation, then a new immutable snapshot.
func (s *CoreSource) refresh(ctx context.Context, h Handlers) error {
	outs, err := s.client.outpostsForRefresh(ctx)
	if err != nil {
		return err
	}
	if len(outs) == 0 {
		return ErrNoOutposts
	}
	op := outs[0]
	s.interval = ClampRefreshInterval(op.RefreshIntervalS)
	cfgs, err := s.client.ProxyProviders(ctx)
	if err != nil {
		return err
	}
	snap := s.build(ctx, outpostInfo(op), cfgs)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.last = snap
	h.OnSnapshot(snap)
	return nil
}

// outpostInfo reads the outpost object defensively: config is free-form,
// so only values of the expected type count.
func outpostInfo(op Outpost) OutpostInfo {
	info := OutpostInfo{PK: op.PK, Name: op.Name, Type: op.Type, RefreshInterval: ClampRefreshInterval(op.RefreshIntervalS)}
	if op.Managed == nil || *op.Managed == "" {
		if l, ok := op.Config["log_level"].(string); ok {
			info.LogLevel = l
		}
	}
	if hst, ok := op.Config["authentik_host"].(string); ok {
		info.AuthentikHost = hst
	}
	return info
}

// build validates the providers and assembles a snapshot. Providers that
// fail are left out and named in Rejected; the rest are served.
func (s *CoreSource) build(ctx context.Context, info OutpostInfo, cfgs []ProxyOutpostConfig) *Snapshot {
	snap := &Snapshot{Outpost: info, Certificates: map[string]Certificate{}, Source: "core"}
	// Named in the snapshot; whoever puts it in force logs them.
	reject := func(e ProviderError) { snap.Rejected = append(snap.Rejected, e) }
	certs := map[string]Certificate{}
	certErrs := map[string]error{}
	var valid []Provider
	for _, c := range cfgs {
		p, perr := validateProvider(c, "", s.compileSkipPaths)
		if perr != nil {
			reject(*perr)
			continue
		}
		if c.Certificate != nil && *c.Certificate != "" {
			id := *c.Certificate
			if _, ok := certs[id]; !ok && certErrs[id] == nil {
				cert, err := s.certificate(ctx, id)
				if err != nil {
					certErrs[id] = err
				} else {
					certs[id] = cert
				}
			}
			if err := certErrs[id]; err != nil {
				reject(ProviderError{Provider: c.Name, Field: "certificate", Err: err.Error()})
				continue
			}
		}
		valid = append(valid, p)
	}
	// Same external host twice: the later by name wins, as in the reference
	// (which simply overwrote its map in name order).
	winner := map[string]int{}
	lost := make([]bool, len(valid))
	for i, p := range valid {
		key := strings.ToLower(p.ExternalURL.Host)
		j, dup := winner[key]
		if !dup {
			winner[key] = i
			continue
		}
		win, lose := i, j
		if p.Name < valid[j].Name {
			win, lose = j, i
		}
		winner[key], lost[lose] = win, true
		reject(ProviderError{Provider: valid[lose].Name, Field: "external_host",
			Err: fmt.Sprintf("host %q is also served by provider %q, which wins (later by name)", p.ExternalURL.Host, valid[win].Name)})
	}
	for i, p := range valid {
		if lost[i] {
			continue
		}
		snap.Providers = append(snap.Providers, p)
		if p.Certificate != nil && *p.Certificate != "" {
			snap.Certificates[*p.Certificate] = certs[*p.Certificate]
		}
	}
	// Keep only keypairs and expressions still in use, so the caches
	// cannot grow forever.
	s.certs = certs
	s.skipPaths.Rotate()
	snap.LoadedAt = time.Now()
	return snap
}

// compileSkipPaths compiles a skip_path_regex once per refresh, reusing
// what the last refresh compiled.
func (s *CoreSource) compileSkipPaths(v string) ([]*regexp.Regexp, error) {
	return s.skipPaths.Get(v, compileSharedSkipPaths)
}

// certificate returns keypair id, downloading the PEMs only when its
// fingerprint changed. If the core cannot be asked, a cached copy is used.
func (s *CoreSource) certificate(ctx context.Context, id string) (Certificate, error) {
	cached, haveCached := s.certs[id]
	cert, err := s.fetchCertificate(ctx, id, cached, haveCached)
	if err != nil && haveCached && ctx.Err() == nil {
		s.log.Warn("cannot refresh a certificate; keeping the previous one", "certificate", id, "error", err)
		return cached, nil
	}
	return cert, err
}

func (s *CoreSource) fetchCertificate(ctx context.Context, id string, cached Certificate, haveCached bool) (Certificate, error) {
	kp, err := s.client.CertificateKeyPair(ctx, id)
	if err != nil {
		return Certificate{}, err
	}
	if haveCached && kp.FingerprintSHA256 != "" && kp.FingerprintSHA256 == cached.Fingerprint {
		return cached, nil
	}
	certPEM, err := s.client.CertificatePEM(ctx, id)
	if err != nil {
		return Certificate{}, err
	}
	keyPEM, err := s.client.PrivateKeyPEM(ctx, id)
	if err != nil {
		return Certificate{}, err
	}
	if strings.TrimSpace(certPEM) == "" {
		return Certificate{}, fmt.Errorf("keypair %s has no certificate", id)
	}
	if keyPEM != "" {
		if _, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
			return Certificate{}, fmt.Errorf("keypair %s: %v", id, err)
		}
	}
	s.log.Info("downloaded certificate", "certificate", id, "fingerprint", kp.FingerprintSHA256)
	return Certificate{UUID: id, Fingerprint: kp.FingerprintSHA256, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// sessionQueue hands session ends to OnSessionEnd in order without ever
// blocking the websocket reader (a stalled reader would miss the core's
// ACKs and drop the connection).
type sessionQueue struct {
	mu     sync.Mutex
	items  []SessionEnd
	signal chan struct{}
	log    *slog.Logger
}

func (q *sessionQueue) push(e SessionEnd) {
	q.mu.Lock()
	if len(q.items) >= maxQueuedSessionEnds {
		q.mu.Unlock()
		q.log.Error("too many session ends waiting; dropping one", "session_id", e.SessionID)
		return
	}
	q.items = append(q.items, e)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *sessionQueue) work(ctx context.Context, handle func(SessionEnd)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.signal:
		}
		q.mu.Lock()
		batch := q.items
		q.items = nil
		q.mu.Unlock()
		for _, e := range batch {
			handle(e)
		}
	}
}
