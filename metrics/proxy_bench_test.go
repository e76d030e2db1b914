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

// The upstream's response time, observed for every proxied request.
func BenchmarkHostUpstreamResponse(b *testing.B) {
	h := NewProxy().Host("outpost", "app.example.com")
	b.ReportAllocs()
	for b.Loop() {
		h.UpstreamResponse("GET", "http", "10.0.0.1:8080", 3*time.Millisecond)
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

func histogramCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// The upstream series cached for the first upstream host are the vector's
// own; another upstream host (backend_override), another scheme and an
// unknown method each land on their own labels.
func TestHostCachedUpstreamSeries(t *testing.T) {
	p := NewProxy()
	h := p.Host("outpost", "app.example.com")
	for range 3 {
		h.UpstreamResponse("GET", "http", "10.0.0.1:8080", time.Millisecond)
		h.UpstreamResponse("GET", "https", "10.0.0.1:8080", time.Millisecond)
		h.UpstreamResponse("BREW", "http", "10.0.0.1:8080", time.Millisecond)
		h.UpstreamResponse("GET", "http", "backend_override", time.Millisecond)
		h.UpstreamResponse("POST", "ftp", "10.0.0.1:8080", time.Millisecond)
	}
	for _, tc := range []struct{ method, scheme, upstream string }{
		{"GET", "http", "10.0.0.1:8080"},
		{"GET", "https", "10.0.0.1:8080"},
		{"other", "http", "10.0.0.1:8080"},
		{"GET", "http", "backend_override"},
		{"POST", "ftp", "10.0.0.1:8080"},
	} {
		t.Run(tc.method+" "+tc.scheme+" "+tc.upstream, func(t *testing.T) {
			o := p.upstreamDuration.WithLabelValues("outpost", tc.method, tc.scheme, "app.example.com", tc.upstream)
			if got := histogramCount(t, o); got != 3 {
				t.Errorf("count = %d, want 3", got)
			}
		})
	}
	if got := seriesCount(p.upstreamDuration); got != 5 {
		t.Errorf("upstream series = %d, want 5", got)
	}
}
