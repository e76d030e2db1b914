package metrics

import (
	"io"
	"net/http/httptest"
	"testing"
)

// ?provider= answers for one provider; without it, the outpost's answer.
func TestProviderReadiness(t *testing.T) {
	loaded := true
	ready := func() (bool, string) { return loaded, "" }
	provider := func(name string) (bool, bool, string) {
		switch name {
		case "up":
			return true, true, ""
		case "down":
			return true, false, "discovery failed"
		}
		return false, false, ""
	}
	for _, tc := range []struct {
		name, query string
		loaded      bool
		code        int
		body        string
	}{
		{"outpost", "", true, 200, "ready\n"},
		{"ready provider", "?provider=up", true, 200, "ready\n"},
		{"provider not ready", "?provider=down", true, 503, "not ready: provider \"down\": discovery failed\n"},
		{"unknown provider", "?provider=nope", true, 404, "not ready: no provider \"nope\" in the configuration in force\n"},
		{"before any configuration", "?provider=up", false, 503, "not ready: no configuration loaded yet\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loaded = tc.loaded
			rec := httptest.NewRecorder()
			Readiness(ready, provider).ServeHTTP(rec, httptest.NewRequest("GET", ReadyPath+tc.query, nil))
			b, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.code || string(b) != tc.body {
				t.Errorf("%d %q, want %d %q", rec.Code, b, tc.code, tc.body)
			}
		})
	}
}
