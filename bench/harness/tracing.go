package main

import (
	"flag"
	"io"
	"net/http"
	"time"
)

// tracingSampleRatio is the share of requests the tracing scenario
// samples: a production setting, not a worst case.
const tracingSampleRatio = "0.01"

// otlpSinkCommand is a collector stand-in (`harness otlp-sink`): it takes
// OTLP/HTTP trace exports and answers each with an empty success, so the
// tracing scenario measures the outpost's cost, not a collector's.
func otlpSinkCommand(args []string) {
	fs := flag.NewFlagSet("otlp-sink", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	_ = fs.Parse(args)
	serve(*listen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		// An empty ExportTraceServiceResponse is zero bytes of protobuf.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
}

// tracingScenario is proxy mode with traces exported over OTLP/HTTP to a
// local sink, sampling tracingSampleRatio of requests (docs/tracing.md),
// against the floor, the identity ceiling and, in the baseline's place,
// this tree's outpost without tracing (a second replica, its log to a
// file too): the before/after row is what tracing at 1 % costs. A
// -baseline revision sits this scenario out (withReference restarts it).
// The outposts are restarted without tracing afterwards.
func (w *world) tracingScenario(signedIn func(dial string) []string) {
	addr := freeAddr()
	sink := start(w.cfg.dir, "otlp-sink", nil, w.cfg.self, "otlp-sink", "--listen", addr)
	defer sink.stop()
	waitTCP(sink, addr, 10*time.Second)
	env := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + addr, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=" + tracingSampleRatio}
	w.startOutpost(env)
	w.startQuiet(env)
	w.withReference("without tracing", nil, func() {
		w.proxyMode("proxy session (tracing, 1 % sampled)", "/", signedIn, 200, "ok bench", true,
			"OTLP/HTTP to a local sink, parentbased_traceidratio "+tracingSampleRatio+"; baseline: the same outpost without tracing")
	})
	w.startOutpost(nil)
	w.startQuiet(nil)
}
