package metrics

import (
	"fmt"
	"net/http"
)

const (
	// PingPath answers 204 on every listener (spec §17): the process is up.
	PingPath = "/outpost.goauthentik.io/ping"
	// ReadyPath answers 200 once a configuration is loaded and 503 before,
	// for readiness probes: an outpost with no providers cannot serve.
	// With ?provider=<name> it answers for that provider alone.
	ReadyPath = "/outpost.goauthentik.io/ready"
)

// Ping answers 204 with no body, for any method.
func Ping(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// ReadyFunc says whether the outpost can serve and, if something an
// operator should see is wrong while it does (a configuration reload
// failed and the last good one serves, a provider's issuer cannot be
// reached), what.
type ReadyFunc func() (ready bool, note string)

// ProviderReadyFunc says whether the named provider of the configuration
// in force can sign people in; found is false when there is no such
// provider.
type ProviderReadyFunc func(name string) (found, ready bool, note string)

// Readiness answers ReadyPath from ready: 200 while a configuration serves,
// 503 before the first one. A failed reload keeps the 200: every replica
// reading the same broken file would otherwise leave service at once, while
// the last good configuration still decides correctly. The body says it.
// So does a provider whose issuer cannot be reached: every replica shares
// that issuer, and a 503 would take the other providers out with it
// (docs/observability.md). ?provider=<name> is the strict answer for one
// provider, from provider: 200 when it can sign people in, 503 when not,
// 404 when the configuration has no such provider.
func Readiness(ready ReadyFunc, provider ProviderReadyFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		if q := r.URL.Query(); q.Has("provider") {
			name := q.Get("provider")
			found := false
			if provider != nil {
				found, ok, note = provider(name)
			}
			switch {
			case !found:
				w.WriteHeader(http.StatusNotFound)
				_, _ = fmt.Fprintf(w, "not ready: no provider %q in the configuration in force\n", name)
				return
			case !ok:
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, "not ready: provider %q: %s\n", name, note)
				return
			}
		}
		if note != "" {
			_, _ = w.Write([]byte("ready; " + note + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
