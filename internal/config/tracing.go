package config

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/outpost-dev/outpost/tracing"
)

// loadTracing reads the standard OpenTelemetry variables that decide
// whether traces are exported and how (docs/tracing.md): on only with an
// OTLP endpoint, and not with OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none. They are read as the SDK reads them (plain,
// no env:// or file://), since the SDK reads the same variables again.
// With tracing off nothing else is checked: a stray variable does not stop
// an outpost that does not trace.
func loadTracing(lookup func(string) (string, bool), fail func(name, format string, args ...any)) tracing.Settings {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var set tracing.Settings
	if v := get("OTEL_SDK_DISABLED"); v != "" {
		off, err := ParseEnvBool(v)
		if err != nil {
			fail("OTEL_SDK_DISABLED", "%v", err)
			return set
		}
		if off {
			return set
		}
	}
	switch v := strings.ToLower(get("OTEL_TRACES_EXPORTER")); v {
	case "", "otlp":
	case "none":
		return set
	default:
		fail("OTEL_TRACES_EXPORTER", "%q is not supported (want otlp or none)", v)
		return set
	}
	endpointVar := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	endpoint := get(endpointVar)
	if endpoint == "" {
		endpointVar = "OTEL_EXPORTER_OTLP_ENDPOINT"
		endpoint = get(endpointVar)
	}
	if endpoint == "" {
		return set
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fail(endpointVar, "want an http:// or https:// URL such as http://collector:4318, got %q", endpoint)
	}
	protoVar := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	proto := get(protoVar)
	if proto == "" {
		protoVar = "OTEL_EXPORTER_OTLP_PROTOCOL"
		proto = get(protoVar)
	}
	switch proto {
	case "", tracing.ProtocolHTTP:
		proto = tracing.ProtocolHTTP
	case tracing.ProtocolGRPC:
	default:
		fail(protoVar, "%q is not supported (want %s or %s)", proto, tracing.ProtocolHTTP, tracing.ProtocolGRPC)
	}
	checkSampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG"), fail)
	checkPropagators(get("OTEL_PROPAGATORS"), fail)
	set.Enabled, set.Protocol = true, proto
	return set
}

// checkSampler refuses what the SDK would quietly replace with its default
// (sample everything): an unknown sampler, or a ratio that is not one.
func checkSampler(sampler, arg string, fail func(name, format string, args ...any)) {
	switch strings.ToLower(sampler) {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
	case "traceidratio", "parentbased_traceidratio":
		if arg == "" {
			return
		}
		if r, err := strconv.ParseFloat(arg, 64); err != nil || r < 0 || r > 1 {
			fail("OTEL_TRACES_SAMPLER_ARG", "want a ratio from 0 to 1 such as 0.01, got %q", arg)
		}
	default:
		fail("OTEL_TRACES_SAMPLER", "%q is not supported (want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio)", sampler)
	}
}

// checkPropagators refuses a propagator the outpost does not speak. It
// reads and writes W3C Trace Context only (docs/tracing.md#propagation);
// W3C baggage passes through untouched, so "tracecontext,baggage" (the
// SDK's default) and "tracecontext" say what it does. An operator asking
// for B3 or Jaeger headers, or for none, would otherwise get traceparent
// without a word.
func checkPropagators(list string, fail func(name, format string, args ...any)) {
	if list == "" {
		return
	}
	tc := false
	for p := range strings.SplitSeq(list, ",") {
		switch p = strings.ToLower(strings.TrimSpace(p)); p {
		case "tracecontext":
			tc = true
		case "baggage":
		default:
			fail("OTEL_PROPAGATORS", "%q is not supported: the outpost propagates W3C Trace Context (tracecontext) and passes baggage through; want tracecontext or tracecontext,baggage", p)
			return
		}
	}
	if !tc {
		fail("OTEL_PROPAGATORS", "%q leaves out tracecontext, which the outpost always propagates; want tracecontext or tracecontext,baggage", list)
	}
}
