// Package tracing sets up OpenTelemetry traces: the OTLP exporter (HTTP or
// gRPC), the resource that names the outpost, the tracer provider and the
// count of export failures (docs/tracing.md). The data plane (package
// proxy) only sees a trace.Tracer, nil when tracing is off: then no span
// is started and nothing is allocated for tracing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Protocols of OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL the outpost exports
// with.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// DefaultServiceName is service.name when neither OTEL_SERVICE_NAME nor
// OTEL_RESOURCE_ATTRIBUTES names the service.
const DefaultServiceName = "authentik-outpost-proxy"

// InstrumentationName names the tracer the outpost's spans come from.
const InstrumentationName = "github.com/outpost-dev/outpost"

// Settings are what internal/config reads from the environment. The
// exporters read the rest of OTEL_EXPORTER_OTLP_* (headers, timeout, TLS)
// and the tracer provider OTEL_TRACES_SAMPLER(_ARG) themselves.
type Settings struct {
	// Enabled: an OTLP endpoint is set, the SDK is not disabled and the
	// exporter is not "none".
	Enabled bool
	// Protocol is ProtocolHTTP or ProtocolGRPC.
	Protocol string
}

// Tracing is a running tracer provider and its exporter.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	failures *failures
}

// New starts tracing as set: the exporter, the resource (service.name
// DefaultServiceName unless the environment names it, service.version
// version) and a tracer provider batching spans to the exporter. Spans
// leave the request path in the batch: an exporter that fails or is slow
// drops spans and counts the failure, and never holds a request.
func New(ctx context.Context, set Settings, version string, log *slog.Logger) (*Tracing, error) {
	if !set.Enabled {
		return nil, errors.New("tracing: not enabled")
	}
	if log == nil {
		log = slog.Default()
	}
	exp, err := newExporter(ctx, set.Protocol)
	if err != nil {
		return nil, err
	}
	res, err := sdkresource.New(ctx,
		// Later detectors win: the environment's name over the default.
		sdkresource.WithAttributes(attribute.String("service.name", DefaultServiceName), attribute.String("service.version", version)),
		sdkresource.WithFromEnv(),
		sdkresource.WithTelemetrySDK(),
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		// Only the environment's detector can fail: a malformed list.
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: want key=value pairs separated by commas: %w", err)
	}
	f := installFailureCount(log)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{provider: tp, tracer: tp.Tracer(InstrumentationName), failures: f}, nil
}

// Tracer is the tracer the data plane starts its spans with.
func (t *Tracing) Tracer() trace.Tracer { return t.tracer }

// ExportFailures is how many times the SDK reported a failure (an export
// that did not reach the collector, mostly) since New.
func (t *Tracing) ExportFailures() uint64 { return t.failures.n.Load() }

// Shutdown exports what is still batched, within ctx, and stops.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

// ForceFlush exports every span ended so far, within ctx. A failure is
// counted as the background exports' are (the SDK returns it instead).
func (t *Tracing) ForceFlush(ctx context.Context) error {
	err := t.provider.ForceFlush(ctx)
	if err != nil {
		t.failures.handle(err)
	}
	return err
}
