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

// ReadyFunc says whether the outpost can serve and, if something an
// operator should see is wrong while it does (a configuration reload
// failed and the last good one serves), what.
type ReadyFunc func() (ready bool, note string)

// Readiness answers ReadyPath from ready: 200 while a configuration serves,
// 503 before the first one. A failed reload keeps the 200: every replica
// reading the same broken file would otherwise leave service at once, while
// the last good configuration still decides correctly. The body says it.
func Readiness(ready ReadyFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		ok, note := false, ""
		if ready != nil {
			ok, note = ready()
		}
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: no configuration loaded yet\n"))
			return
		}
		if note != "" {
			_, _ = w.Write([]byte("ready; " + note + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
