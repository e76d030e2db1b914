package tracing

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
)

// failureLogEvery spaces the log lines about failures: a collector that is
// down fails every batch, and one line a minute says so.
const failureLogEvery = time.Minute

// failures counts what the SDK reports through otel's error handler (an
// export that failed, mostly) for outpost_trace_export_failures_total.
type failures struct {
	n      atomic.Uint64
	log    *slog.Logger
	mu     sync.Mutex
	last   time.Time
	missed uint64
}

// installFailureCount makes the process's otel error handler count and
// log into a new failures. The handler is process-wide: the latest
// Tracing counts.
func installFailureCount(log *slog.Logger) *failures {
	f := &failures{log: log}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(f.handle))
	return f
}

func (f *failures) handle(err error) {
	f.n.Add(1)
	f.mu.Lock()
	now := time.Now()
	if now.Sub(f.last) < failureLogEvery {
		f.missed++
		f.mu.Unlock()
		return
	}
	missed := f.missed
	f.last, f.missed = now, 0
	f.mu.Unlock()
	f.log.Warn("trace export failed; requests are not affected, spans are dropped", "error", err, "failures_not_logged", missed)
}
