// Package proxy is the data plane: listeners, routing, applications, login,
// forward auth, decisions and upstream proxying.
package proxy

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
)

// Server routes every request on the main listeners through the snapshot in
// force. Update swaps the snapshot atomically; in-flight requests finish on
// the one they started with.
type Server struct {
	log     *slog.Logger
	current atomic.Pointer[state]
}

// state is everything built from one snapshot.
type state struct {
	snap   *outpostapi.Snapshot
	router *router
}

// New returns a Server with no configuration: it answers ping and 503 until
// the first snapshot arrives.
func New(log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{log: log}
}

// Update builds the data plane for snap and puts it in force.
func (s *Server) Update(snap *outpostapi.Snapshot) {
	s.current.Store(&state{snap: snap, router: newRouter(snap)})
}

// Ready reports whether a configuration is loaded.
func (s *Server) Ready() bool { return s.current.Load() != nil }

// Snapshot is the configuration in force, or nil before the first one.
func (s *Server) Snapshot() *outpostapi.Snapshot {
	if st := s.current.Load(); st != nil {
		return st.snap
	}
	return nil
}

// reservedPrefix is the path prefix the outpost keeps for itself on every host.
const reservedPrefix = "/outpost.goauthentik.io"

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, metrics.PingPath) {
		metrics.Ping(w, r)
		return
	}
	st := s.current.Load()
	if st == nil {
		http.Error(w, "outpost is starting: no configuration loaded yet", http.StatusServiceUnavailable)
		return
	}
	// Until trusted proxies are configured (issue 4), only Host routes: an
	// X-Forwarded-Host from an untrusted client must never pick the app.
	app := st.router.route(r.Host)
	if app == nil {
		noAppForHost(w, r.Host)
		return
	}
	app.ServeHTTP(w, r)
}

// noAppForHost is the reference's 400 body, byte for byte (tab-indented).
func noAppForHost(w http.ResponseWriter, host string) {
	body, _ := json.MarshalIndent(struct {
		Message string
		Host    string
		Detail  string
	}{"no app for hostname", host, "Check the outpost settings and make sure '" + host + "' is included."}, "", "\t")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(body)
}
