package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/otlptest"
)

// The binary exports traces when the standard variables say so, over
// either protocol: the request's span named as OTEL_SERVICE_NAME says, its
// trace id in the access line, and the export failure counter published.
func TestServeExportsTraces(t *testing.T) {
	for _, c := range []struct {
		protocol string
		start    func(testing.TB) *otlptest.Receiver
	}{
		{"http/protobuf", otlptest.StartHTTP},
		{"grpc", otlptest.StartGRPC},
	} {
		t.Run(c.protocol, func(t *testing.T) {
			recv := c.start(t)
			cfg := filepath.Join(t.TempDir(), "providers.yaml")
			if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
				t.Fatal(err)
			}
			httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
			p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr,
				"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.Endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL=" + c.protocol,
				"OTEL_SERVICE_NAME=edge-outpost", "OTEL_BSP_SCHEDULE_DELAY=50"}, "--config", cfg)
			p.waitFor(t, "configuration in force", 30*time.Second)
			p.waitOutput(t, "exporting traces", 5*time.Second)
			code, _ := get(t, "http://"+httpAddr+"/some/path?state=secret-state", "prom.test")
			spans := recv.WaitFor(t, "request span", func(s []otlptest.Span) bool {
				return slices.ContainsFunc(s, func(s otlptest.Span) bool { return s.Name == "outpost.request" })
			})
			req := spans[slices.IndexFunc(spans, func(s otlptest.Span) bool { return s.Name == "outpost.request" })]
			if req.Resource["service.name"] != "edge-outpost" || req.Attrs["http.response.status_code"] != strconv.Itoa(code) ||
				req.Attrs["server.address"] != "prom.test" || req.Attrs["outpost.provider"] != "prom" {
				t.Errorf("request span %+v", req)
			}
			for k, v := range req.Attrs {
				if strings.Contains(v, "secret-state") || strings.Contains(v, "/some/path") {
					t.Errorf("attribute %s holds the path or query: %q", k, v)
				}
			}
			line := p.waitFor(t, `"path":"/some/path"`, 5*time.Second)
			var access map[string]any
			if err := json.Unmarshal([]byte(line), &access); err != nil || access["trace_id"] != req.TraceID {
				t.Errorf("access line %s: want trace_id %s (%v)", line, req.TraceID, err)
			}
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), "\noutpost_trace_export_failures_total 0\n") {
				t.Errorf("no export failure counter at 0:\n%s", grepLines(string(b), "outpost_trace"))
			}
		})
	}
}

// A collector that is down changes no answer: requests are served as with
// tracing off, and the failures are counted.
func TestServeWithTheCollectorDown(t *testing.T) {
	for _, protocol := range []string{"http/protobuf", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "providers.yaml")
			if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
				t.Fatal(err)
			}
			httpAddr, metricsAddr, collector := freeAddr(t), freeAddr(t), freeAddr(t)
			p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr,
				"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + collector, "OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol,
				"OTEL_EXPORTER_OTLP_TIMEOUT=500", "OTEL_BSP_SCHEDULE_DELAY=50"}, "--config", cfg)
			p.waitFor(t, "configuration in force", 30*time.Second)
			for range 5 {
				if code, loc := get(t, "http://"+httpAddr+"/page", "prom.test"); code != 302 && code != 502 {
					t.Fatalf("with the collector down: %d %s", code, loc)
				}
			}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				resp, err := http.Get("http://" + metricsAddr + "/metrics")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if failures(string(b)) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no export failure counted:\n%s", grepLines(string(b), "outpost_trace"))
				}
			}
			p.waitOutput(t, "trace export failed; requests are not affected", 5*time.Second)
		})
	}
}

// failures is outpost_trace_export_failures_total in a scrape, -1 if absent.
func failures(scrape string) float64 {
	for _, l := range strings.Split(scrape, "\n") {
		if v, ok := strings.CutPrefix(l, "outpost_trace_export_failures_total "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}
