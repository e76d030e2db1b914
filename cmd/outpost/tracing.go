package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/tracing"
	"go.opentelemetry.io/otel/trace"
)

// traceFlushTimeout bounds how long the end of the process waits for the
// last spans to reach the collector.
const traceFlushTimeout = 5 * time.Second

// startTracing starts the exporter when the environment asks for traces
// (docs/tracing.md) and returns the tracer for the data plane (nil when
// off) and what flushes and stops it. A collector that is down is no
// error: export failures are counted, never felt by a request.
func startTracing(set tracing.Settings, log *slog.Logger, m *metrics.Metrics) (trace.Tracer, func(), error) {
	if !set.Enabled {
		return nil, func() {}, nil
	}
	tr, err := tracing.New(context.Background(), set, userAgentVersion(), log)
	if err != nil {
		return nil, nil, err
	}
	m.WatchTraceExportFailures(tr.ExportFailures)
	log.Info("exporting traces", "protocol", set.Protocol)
	return tr.Tracer(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			log.Warn("trace export: the last spans were not all sent", "error", err)
		}
	}, nil
}
