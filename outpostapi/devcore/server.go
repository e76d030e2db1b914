package devcore

import (
	"log/slog"
	"net/http"
	"sync/atomic"
)

// Server is a running stand-in core. Its HTTP surface has two halves, kept in
// separate files: the outpost control plane (REST API, websocket, status;
// controlPlane) and the OAuth2/OIDC endpoints of proxy providers
// (identityProvider).
type Server struct {
	cfg atomic.Pointer[Config]
	log *slog.Logger
	ctl *controlPlane
	idp *identityProvider
	mux *http.ServeMux
}

// Options tune a Server.
type Options struct {
	Logger *slog.Logger
}

// New builds a Server serving cfg.
func New(cfg *Config, opts Options) (*Server, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log, mux: http.NewServeMux()}
	s.cfg.Store(cfg)
	s.ctl = newControlPlane(s)
	s.idp = newIdentityProvider(s)
	s.ctl.routes(s.mux)
	s.idp.routes(s.mux)
	return s, nil
}

// Handler is the devcore's whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.mux }

// config is the configuration in force; never mutated, replaced whole.
func (s *Server) config() *Config { return s.cfg.Load() }
