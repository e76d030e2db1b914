package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

// The per-request metric calls of the data plane (issue 10).
func BenchmarkHostRequest(b *testing.B) {
	h := NewProxy().Host("outpost", "app.example.com")
	b.ReportAllocs()
	for b.Loop() {
		h.Request("GET", KindApp, 200, 3*time.Millisecond)
		h.Decision(ResultAllowed, MethodSession)
	}
}

// The cached series are the vector's own: counts land on the same labels.
func TestHostCachedSeries(t *testing.T) {
	p := NewProxy()
	h := p.Host("outpost", "app.example.com")
	for range 3 {
		h.Request("GET", KindApp, 204, time.Millisecond)
		h.Request("BREW", "unknown-kind", 42, time.Millisecond)
		h.Decision(ResultAllowed, MethodSession)
		h.Decision("odd", MethodNone)
	}
	if got := counterValue(t, p.responses.WithLabelValues("app.example.com", "2xx")); got != 3 {
		t.Errorf("2xx = %v", got)
	}
	if got := counterValue(t, p.responses.WithLabelValues("app.example.com", "other")); got != 3 {
		t.Errorf("other = %v", got)
	}
	if got := counterValue(t, p.decisions.WithLabelValues("app.example.com", ResultAllowed, MethodSession)); got != 3 {
		t.Errorf("allowed/session = %v", got)
	}
	if got := counterValue(t, p.decisions.WithLabelValues("app.example.com", "odd", MethodNone)); got != 3 {
		t.Errorf("odd/none = %v", got)
	}
	if got := seriesCount(p.requestDuration); got != 2 {
		t.Errorf("duration series = %d, want 2", got)
	}
}
