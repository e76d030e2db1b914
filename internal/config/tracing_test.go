package config

import (
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/tracing"
)

func TestTracingSettings(t *testing.T) {
	const ep = "http://127.0.0.1:4318"
	for _, c := range []struct {
		name    string
		vars    map[string]string
		want    tracing.Settings
		wantErr string // the variable the error names
	}{
		{name: "unset is off", vars: nil},
		{name: "service name alone is off", vars: map[string]string{"OTEL_SERVICE_NAME": "edge"}},
		{name: "endpoint turns it on, HTTP by default", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep},
			want: tracing.Settings{Enabled: true, Protocol: tracing.ProtocolHTTP}},
		{name: "traces endpoint alone", vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ep + "/v1/traces"},
			want: tracing.Settings{Enabled: true, Protocol: tracing.ProtocolHTTP}},
		{name: "grpc", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			want: tracing.Settings{Enabled: true, Protocol: tracing.ProtocolGRPC}},
		{name: "traces protocol wins", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, want: tracing.Settings{Enabled: true, Protocol: tracing.ProtocolHTTP}},
		{name: "sdk disabled", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_SDK_DISABLED": "true"}},
		{name: "sdk not disabled", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_SDK_DISABLED": "false"},
			want: tracing.Settings{Enabled: true, Protocol: tracing.ProtocolHTTP}},
		{name: "exporter none", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_TRACES_EXPORTER": "none"}},
		{name: "ratio sampler", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
			"OTEL_TRACES_SAMPLER_ARG": "0.01"}, want: tracing.Settings{Enabled: true, Protocol: tracing.ProtocolHTTP}},
		{name: "default propagators", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_PROPAGATORS": "tracecontext, baggage"},
			want: tracing.Settings{Enabled: true, Protocol: tracing.ProtocolHTTP}},
		{name: "tracecontext alone", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_PROPAGATORS": "TraceContext"},
			want: tracing.Settings{Enabled: true, Protocol: tracing.ProtocolHTTP}},
		{name: "off ignores a bad propagator", vars: map[string]string{"OTEL_PROPAGATORS": "b3"}},
		{name: "off ignores a bad sampler", vars: map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}},
		{name: "bad disabled", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_SDK_DISABLED": "maybe"}, wantErr: "OTEL_SDK_DISABLED"},
		{name: "other exporter", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: "OTEL_TRACES_EXPORTER"},
		{name: "endpoint not a URL", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "traces endpoint not a URL", vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x"}, wantErr: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{name: "json protocol", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "bad traces protocol", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, wantErr: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{name: "b3 propagator", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_PROPAGATORS": "tracecontext,b3"}, wantErr: "OTEL_PROPAGATORS"},
		{name: "no propagator", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_PROPAGATORS": "none"}, wantErr: "OTEL_PROPAGATORS"},
		{name: "baggage without tracecontext", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_PROPAGATORS": "baggage"}, wantErr: "OTEL_PROPAGATORS"},
		{name: "unknown sampler", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_TRACES_SAMPLER": "sometimes"}, wantErr: "OTEL_TRACES_SAMPLER"},
		{name: "ratio over one", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "5"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "ratio not a number", vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": ep, "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1%"}, wantErr: "OTEL_TRACES_SAMPLER_ARG"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env, err := Load(func(k string) (string, bool) { v, ok := c.vars[k]; return v, ok }, false)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr+": ") {
					t.Fatalf("error %v, want one naming %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env.Tracing != c.want {
				t.Errorf("got %+v, want %+v", env.Tracing, c.want)
			}
		})
	}
}
