package tracing_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/otlptest"
	"github.com/outpost-dev/outpost/tracing"
)

// Spans reach a real receiver over either protocol, named by the
// resource as the environment says.
func TestExportOverBothProtocols(t *testing.T) {
	for _, c := range []struct {
		name, protocol, service, wantService string
		start                                func(testing.TB) *otlptest.Receiver
	}{
		{"http default name", tracing.ProtocolHTTP, "", tracing.DefaultServiceName, otlptest.StartHTTP},
		{"http named", tracing.ProtocolHTTP, "edge-outpost", "edge-outpost", otlptest.StartHTTP},
		{"grpc default name", tracing.ProtocolGRPC, "", tracing.DefaultServiceName, otlptest.StartGRPC},
		{"grpc named", tracing.ProtocolGRPC, "edge-outpost", "edge-outpost", otlptest.StartGRPC},
	} {
		t.Run(c.name, func(t *testing.T) {
			recv := c.start(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.Endpoint)
			t.Setenv("OTEL_SERVICE_NAME", c.service)
			if c.service == "" {
				t.Setenv("OTEL_SERVICE_NAME", "")
			}
			tr, err := tracing.New(context.Background(), tracing.Settings{Enabled: true, Protocol: c.protocol}, "1.2.3", slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			_, sp := tr.Tracer().Start(context.Background(), "outpost.test")
			sp.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tr.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			spans := recv.Spans()
			if len(spans) != 1 || spans[0].Name != "outpost.test" {
				t.Fatalf("received %+v", spans)
			}
			if got := spans[0].Resource["service.name"]; got != c.wantService {
				t.Errorf("service.name %q, want %q", got, c.wantService)
			}
			if got := spans[0].Resource["service.version"]; got != "1.2.3" {
				t.Errorf("service.version %q", got)
			}
			if tr.ExportFailures() != 0 {
				t.Errorf("%d failures counted", tr.ExportFailures())
			}
		})
	}
}

// A collector that is not there is counted, and costs the span's caller
// nothing but the dropped span.
func TestExportFailuresAreCounted(t *testing.T) {
	for _, protocol := range []string{tracing.ProtocolHTTP, tracing.ProtocolGRPC} {
		t.Run(protocol, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			_ = ln.Close() // nothing listens there now
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+addr)
			t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
			// The batch goes out on its timer, as in production.
			t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
			tr, err := tracing.New(context.Background(), tracing.Settings{Enabled: true, Protocol: protocol}, "1", slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, sp := tr.Tracer().Start(context.Background(), "outpost.test")
			sp.End()
			if took := time.Since(start); took > 100*time.Millisecond {
				t.Errorf("ending a span took %v with the collector down", took)
			}
			for deadline := time.Now().Add(15 * time.Second); tr.ExportFailures() == 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the failed export was not counted")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tr.Shutdown(ctx)
		})
	}
}
