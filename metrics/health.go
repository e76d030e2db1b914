package metrics

import "net/http"

const (
	// PingPath answers 204 on every listener (spec §17): the process is up.
	PingPath = "/outpost.goauthentik.io/ping"
	// ReadyPath answers 200 once a configuration is loaded and 503 before,
	// for readiness probes: an outpost with no providers cannot serve.
	ReadyPath = "/outpost.goauthentik.io/ready"
)

// Ping answers 204 with no body, for any method.
func Ping(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// Readiness answers ReadyPath from ready.
func Readiness(ready func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if ready == nil || !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: no configuration loaded yet\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
