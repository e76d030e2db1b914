package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
)

// drainTimeout bounds how long shutdown waits for in-flight requests; it
// stays under Kubernetes' default 30 s grace period.
const drainTimeout = 20 * time.Second

func serveCommand(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configPath := fs.String("config", os.Getenv("OUTPOST_CONFIG"), "standalone providers YAML (no core); env OUTPOST_CONFIG")
	if err := parseFlags(fs, args, serveHelp, 0); err != nil {
		return err
	}
	if err := bothModes(*configPath, os.LookupEnv); err != nil {
		return err
	}
	// With no mode the other variables are still checked: every mistake
	// is reported at once, the missing mode last.
	none := noMode(*configPath, os.LookupEnv)
	env, err := config.Load(os.LookupEnv, *configPath == "" && !none)
	if none {
		return errors.Join(err, errNoMode)
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runOutpost(ctx, outpostOptions{env: env, configPath: *configPath})
}

// outpostOptions is everything runOutpost needs; the demo fills it in too.
type outpostOptions struct {
	env        config.Env
	configPath string
	// ready, if set, is closed once the listeners accept connections.
	ready chan<- listenAddrs
	// onSnapshot, if set, sees every snapshot put in force.
	onSnapshot func(*outpostapi.Snapshot)
}

type listenAddrs struct{ http, metrics string }

// runOutpost runs the outpost until ctx is done, then drains and returns.
func runOutpost(ctx context.Context, o outpostOptions) error {
	level := new(slog.LevelVar)
	envLevel, err := parseLevel(o.env.Log.Level)
	if err != nil {
		return fmt.Errorf("AUTHENTIK_LOG_LEVEL: %w", err)
	}
	level.Set(envLevel)
	// Lines leave the request path (logbuffer.go); every return below
	// writes out what is buffered, the drain at SIGTERM included.
	logs := newLogBuffer(os.Stderr)
	defer logs.Close()
	log := newFormatLogger(logs, o.env.Log.Format, o.env.Log.Debug, level)
	instance := uuid.NewString()

	m := metrics.New(instance, version, buildHash)
	m.WatchLogDrops(logs.Dropped)
	tracer, stopTracing, err := startTracing(o.env.Tracing, log, m)
	if err != nil {
		return err
	}
	// After the drain (deferred later, run earlier): the last requests'
	// spans are sent too.
	defer stopTracing()
	store, storeKind, err := newSessionStore(o.env, log, sessionHooks{OnEvict: m.SessionEvictions.Inc, OnStoreError: m.Proxy.StoreError})
	if err != nil {
		return err
	}
	defer store.Close()
	m.WatchSessions(storeKind, func() (int, error) { return store.Len(context.Background()) })
	src, events := configSource(o, log, instance, m)
	// The environment's settings, and what is not configuration.
	popts := o.env.Proxy
	popts.Log, popts.Store, popts.Version, popts.Events, popts.Metrics = log, store, userAgentVersion(), events, m.Proxy
	popts.Tracer = tracer
	dataPlane := proxy.New(popts)
	// Stops the providers' discovery retries.
	defer dataPlane.Close()

	var report configReport
	handlers := outpostapi.Handlers{
		OnSnapshot: func(snap *outpostapi.Snapshot) {
			failed := dataPlane.Update(snap)
			m.SetOutpost(snap.Outpost.Name)
			m.MarkRefreshed(snap.LoadedAt)
			m.RefreshResult(nil, snap.LoadedAt)
			m.SetProviders(len(snap.Providers)-len(failed), len(snap.Rejected)+len(failed))
			// The configuration's level wins while it sets one; without
			// it, the environment's applies again.
			if snap.Outpost.LogLevel != "" {
				level.Set(coreLevel(snap.Outpost.LogLevel))
			} else {
				level.Set(envLevel)
			}
			report.inForce(log, snap, failed)
			if o.onSnapshot != nil {
				o.onSnapshot(snap)
			}
		},
		OnSessionEnd: func(e outpostapi.SessionEnd) {
			n, err := store.DeleteBySID(context.Background(), e.SessionID)
			if err != nil {
				// The store remembers it: refused here, retried until Redis confirms.
				log.Error("session end from core: not confirmed by the session store yet; refused here and retried", "session_id", e.SessionID, "error", err)
				return
			}
			log.Info("session end from core", "session_id", e.SessionID, "legacy", e.Legacy, "sessions_ended", n)
		},
		OnConnection: m.SetConnected,
		// Successes arrive as snapshots; only failures count here.
		OnRefresh: func(err error) {
			if err != nil {
				now := time.Now()
				m.RefreshResult(err, now)
				dataPlane.RefreshFailed(err, now)
			}
		},
	}

	// One count per client over every listener, metrics included.
	listen, trusted := o.env.Listen, o.env.Proxy.TrustedProxies
	conns := proxy.NewConnLimit(listen.MaxConnsPerClient, trusted, log)
	httpLns, err := listenAll("AUTHENTIK_LISTEN__HTTP", listen.HTTP)
	if err != nil {
		return err
	}
	metricsLns, err := listenAll("AUTHENTIK_LISTEN__METRICS", listen.Metrics)
	if err != nil {
		closeAll(httpLns)
		return err
	}
	tlsLns, err := startTLS(o.env, dataPlane, conns, log)
	if err != nil {
		closeAll(httpLns)
		closeAll(metricsLns)
		return err
	}
	log.Info("listening", "http", addrs(httpLns), "metrics", addrs(metricsLns), "version", userAgentVersion())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(httpLns)+len(metricsLns)+len(tlsLns))
	// A listener that dies takes the process down with it: an outpost that
	// cannot serve must not look alive to its supervisor.
	serve := func(name string, h http.Handler, ln net.Listener) {
		srv := proxy.NewHTTPServerWith(h, listen.BodyIdleTimeout)
		srv.ReadHeaderTimeout = listen.ReadHeaderTimeout
		srv.IdleTimeout = listen.IdleTimeout
		srv.MaxHeaderBytes = listen.MaxHeaderBytes
		// TLS handshake and connection errors in the same log format as
		// everything else, not plain stderr.
		srv.ErrorLog = slog.NewLogLogger(log.With("listener", name).Handler(), slog.LevelWarn)
		err := proxy.Serve(ctx, srv, ln, drainTimeout)
		if err != nil {
			log.Error("listener failed", "listener", name, "error", err)
			cancel()
		}
		errc <- err
	}
	for _, ln := range httpLns {
		go serve("http", dataPlane, proxy.ProxyProtocolListener(conns.Listener(ln), trusted))
	}
	for _, ln := range tlsLns {
		go serve("https", dataPlane, ln)
	}
	for _, ln := range metricsLns {
		go serve("metrics", m.Handler(dataPlane.Readiness, dataPlane.ProviderReadiness), conns.Listener(ln))
	}
	if o.ready != nil {
		o.ready <- listenAddrs{http: httpLns[0].Addr().String(), metrics: metricsLns[0].Addr().String()}
	}

	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				log.Info("SIGUSR1: refreshing configuration")
				src.TriggerRefresh()
			}
		}
	}()

	srcErr := src.Run(ctx, handlers)
	if srcErr != nil && !errors.Is(srcErr, context.Canceled) {
		log.Error("configuration source stopped", "error", srcErr)
	}
	log.Info("shutting down: draining in-flight requests", "timeout", drainTimeout.String())
	cancel()
	var first error
	for range len(httpLns) + len(metricsLns) + len(tlsLns) {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	if srcErr != nil && !errors.Is(srcErr, context.Canceled) {
		return srcErr
	}
	return first
}

// listenAll opens every address of a listener variable (the newer comma-list
// form, spec §19); all or none.
func listenAll(variable string, all []string) ([]net.Listener, error) {
	var lns []net.Listener
	for _, addr := range all {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("%s: %w", variable, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}

func addrs(lns []net.Listener) []string {
	out := make([]string, len(lns))
	for i, ln := range lns {
		out[i] = ln.Addr().String()
	}
	return out
}
