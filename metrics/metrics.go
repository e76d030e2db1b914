// Package metrics defines the outpost's Prometheus metrics (authentik's names,
// spec §17) and serves them, with the ping endpoint, on the metrics listener.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// PingPath answers 204 on every listener (spec §17).
const PingPath = "/outpost.goauthentik.io/ping"

// Metrics owns a registry; one per process (tests may make several).
type Metrics struct {
	Registry *prometheus.Registry

	info       *prometheus.GaugeVec
	lastUpdate *prometheus.GaugeVec
	connection *prometheus.GaugeVec
	// SessionEvictions counts live sessions dropped because the memory
	// store was full: a sign that max sessions is too low for the load.
	SessionEvictions prometheus.Counter

	mu        sync.Mutex
	outpost   string // outpost name in force, "" before the first configuration
	instance  string
	version   string
	build     string
	connected float64
	updated   float64
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
		instance: instance,
		version:  version,
		build:    build,
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.info, m.lastUpdate, m.connection, m.SessionEvictions,
	)
	return m
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

// SetConnected records the websocket state.
func (m *Metrics) SetConnected(up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.connected = 0
	if up {
		m.connected = 1
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
	m.connection.WithLabelValues(m.outpost, "proxy", m.instance).Set(m.connected)
}

// Handler serves /metrics and the ping path; everything else is 404.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc(PingPath, Ping)
	return mux
}

// Ping answers 204 with no body, for any method.
func Ping(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
