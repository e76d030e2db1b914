package metrics

import "github.com/prometheus/client_golang/prometheus"

// WatchTraceExportFailures publishes the failures the tracing SDK reported
// (exports that did not reach the collector; package tracing). Registered
// only with tracing on: without it the series does not exist.
func (m *Metrics) WatchTraceExportFailures(failures func() uint64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "outpost_trace_export_failures_total",
		Help: "Failures the OpenTelemetry SDK reported, exports of spans that did not reach the collector mostly; requests are not affected.",
	}, func() float64 { return float64(failures()) }))
}
