package proxy

import (
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/outpost-dev/outpost/assertion"
	"github.com/outpost-dev/outpost/outpostapi"
)

// BenchmarkServeHTTPAssertion is BenchmarkServeHTTP's outpost_session with
// the identity assertion on: the cached assertion is all it adds.
func BenchmarkServeHTTPAssertion(b *testing.B) {
	up := benchUpstream(b)
	for _, on := range []bool{false, true} {
		name := "identity"
		if on {
			name = "identity_and_assertion"
		}
		b.Run(name, func(b *testing.B) {
			p := provider(b, "app-0", outpostapi.ModeProxy, "https://app.example.com", "")
			p.InternalURL, _ = url.Parse(up.URL)
			if on {
				set := assertion.Defaults()
				set.Enabled = true
				p.Assertion = &set
			}
			e := newSignedInBenchEnv(b, &outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "bench"}, Providers: []outpostapi.Provider{p}}, nil)
			b.Cleanup(e.srv.Close)
			base := e.browserRequest()
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				e.srv.ServeHTTP(w, base.Clone(base.Context()))
				if w.Code != 200 {
					b.Fatal(w.Code, w.Body.String())
				}
			}
		})
	}
}
