// Package metrics defines the outpost's Prometheus metrics (authentik's names,
// spec §17) and serves them, with the ping endpoint, on the metrics listener.
package metrics

import (
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics owns a registry; one per process (tests may make several).
type Metrics struct {
	Registry *prometheus.Registry

	info       *prometheus.GaugeVec
	lastUpdate *prometheus.GaugeVec
	connection *prometheus.GaugeVec
	// SessionEvictions counts live sessions dropped because the memory
	// store was full: a sign that max sessions is too low for the load.
	SessionEvictions prometheus.Counter

	// Core link and configuration, beyond authentik's gauges.
	reconnects      prometheus.Counter
	lastRefreshOK   prometheus.Gauge
	refreshFailures prometheus.Counter
	lastRefreshGood prometheus.Gauge
	providers       *prometheus.GaugeVec

	// Data plane: see proxy.go.
	Proxy *Proxy

	mu        sync.Mutex
	outpost   string // outpost name in force, "" before the first configuration
	instance  string
	version   string
	build     string
	connected float64
	updated   float64
	// everConnected tells a reconnect from the first connection.
	everConnected bool
	// linkKnown is set once a core link reports its state.
	linkKnown bool
}

// New registers the outpost metrics and the Go and process collectors.
// instance is the per-process instance UUID.
func New(instance, version, build string) *Metrics {
	infoLabels := []string{"outpost_name", "outpost_type", "uuid", "version", "build"}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_info", Help: "Outpost info (always 1).",
		}, infoLabels),
		lastUpdate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_last_update", Help: "Unix time of the last successful configuration refresh.",
		}, infoLabels),
		connection: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authentik_outpost_connection", Help: "1 while the websocket to the core is connected.",
		}, []string{"outpost_name", "outpost_type", "uuid"}),
		SessionEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outpost_session_evictions_total",
			Help: "Live sessions evicted because the in-memory session store was full.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outpost_core_reconnects_total",
			Help: "Times the websocket to the core came back up after having been connected.",
		}),
		lastRefreshOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outpost_config_last_success_timestamp_seconds",
			Help: "Unix time of the last configuration refresh that succeeded (core or YAML file).",
		}),
		refreshFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outpost_config_refresh_failures_total",
			Help: "Configuration refreshes that failed (core unreachable or refused, YAML file invalid).",
		}),
		lastRefreshGood: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "outpost_config_last_refresh_successful",
			Help: "1 if the last configuration refresh succeeded, 0 if it failed and the last good configuration is serving.",
		}),
		providers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "outpost_providers",
			Help: "Providers in the configuration in force, by state: loaded (serving) or rejected (left out).",
		}, []string{"state"}),
		instance: instance,
		version:  version,
		build:    build,
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "outpost_build_info", Help: "Build of the running outpost (always 1).",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(version, build, runtime.Version()).Set(1)
	m.Proxy = NewProxy()
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.info, m.lastUpdate, m.connection, m.SessionEvictions,
		m.reconnects, m.lastRefreshOK, m.refreshFailures, m.lastRefreshGood, m.providers, buildInfo,
	)
	m.Proxy.register(m.Registry)
	return m
}

// WatchSessions exports the number of live sessions in a store, read at
// each scrape. kind names the store (memory, redis).
// WatchLogDrops publishes the log lines dropped because the output could
// not keep up (cmd/outpost's log buffer).
func (m *Metrics) WatchLogDrops(dropped func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "outpost_log_lines_dropped_total",
		Help: "Log lines (access lines included) dropped because the log output could not keep up.",
	}, func() float64 { return float64(dropped()) }))
}

func (m *Metrics) WatchSessions(kind string, count func() (int, error)) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "outpost_sessions_active",
		Help:        "Live sessions in the session store (-1 when the store cannot answer).",
		ConstLabels: prometheus.Labels{"store": kind},
	}, func() float64 {
		n, err := count()
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// RefreshResult records the outcome of one configuration refresh.
func (m *Metrics) RefreshResult(err error, at time.Time) {
	if err != nil {
		m.refreshFailures.Inc()
		m.lastRefreshGood.Set(0)
		return
	}
	m.lastRefreshGood.Set(1)
	m.lastRefreshOK.Set(float64(at.Unix()))
}

// SetProviders records how many providers serve and how many were left out.
func (m *Metrics) SetProviders(loaded, rejected int) {
	m.providers.WithLabelValues("loaded").Set(float64(loaded))
	m.providers.WithLabelValues("rejected").Set(float64(rejected))
}

// SetOutpost records the outpost name from the configuration in force. The
// labelled series move to the new name when it changes.
func (m *Metrics) SetOutpost(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == m.outpost {
		return
	}
	if m.outpost != "" {
		m.info.Reset()
		m.lastUpdate.Reset()
		m.connection.Reset()
	}
	m.outpost = name
	m.publishLocked()
}

// SetConnected records the websocket state; coming back up after having
// been up counts as a reconnect.
func (m *Metrics) SetConnected(up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if up && m.connected == 0 && m.everConnected {
		m.reconnects.Inc()
	}
	m.connected = 0
	m.linkKnown = true
	if up {
		m.connected = 1
		m.everConnected = true
	}
	m.publishLocked()
}

// MarkRefreshed records a successful configuration refresh.
func (m *Metrics) MarkRefreshed(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updated = float64(at.Unix())
	m.publishLocked()
}

// publishLocked writes the series; before the outpost name is known there is
// nothing to label them with, so nothing is published.
func (m *Metrics) publishLocked() {
	if m.outpost == "" {
		return
	}
	m.info.WithLabelValues(m.outpost, "proxy", m.instance, m.version, m.build).Set(1)
	if m.updated > 0 {
		m.lastUpdate.WithLabelValues(m.outpost, "proxy", m.instance, m.version, m.build).Set(m.updated)
	}
	// Standalone outposts have no core link: no gauge rather than a 0
	// that alerts forever.
	if m.linkKnown {
		m.connection.WithLabelValues(m.outpost, "proxy", m.instance).Set(m.connected)
	}
}

// Handler serves /metrics, the ping path and the readiness path (ready
// reports whether a configuration is loaded, provider whether one provider
// can sign people in); everything else is 404.
func (m *Metrics) Handler(ready ReadyFunc, provider ProviderReadyFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc(PingPath, Ping)
	mux.Handle(ReadyPath, Readiness(ready, provider))
	return mux
}
