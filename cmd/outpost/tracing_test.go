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
