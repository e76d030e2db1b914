package devcore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server is a running stand-in core. Its HTTP surface has two halves, kept in
// separate files: the outpost control plane (REST API, websocket, status;
// controlPlane) and the OAuth2/OIDC endpoints of proxy providers
// (identityProvider).
type Server struct {
	cfg atomic.Pointer[Config]
	log *slog.Logger
	// coreVersion, when set, replaces the core_version of every
	// configuration put in force (Options.CoreVersion).
	coreVersion string
	ctl         *controlPlane
	idp         *identityProvider
	mux         *http.ServeMux

	httpSrv *http.Server
	// swapMu orders SetConfig calls, so that each TRIGGER_UPDATE decision
	// compares a configuration with the one it actually replaced.
	swapMu    sync.Mutex
	closeOnce sync.Once
	closeDone chan struct{}
	closeErr  error

	// watchSettle is how long WatchFile waits for a burst of file events to
	// end before reloading.
	watchSettle time.Duration
	// Test hooks: watchStarted runs once WatchFile watches, reloaded after
	// each reload attempt with its error (nil on success).
	watchStarted func()
	reloaded     func(error)
}

// Options tune a Server.
type Options struct {
	Logger *slog.Logger
	// CoreVersion, when set, is the authentik release the devcore speaks
	// as whatever core_version the configuration (and every reload of it)
	// says; one of CoreVersions.
	CoreVersion string
}

// New builds a Server serving cfg. A Config that did not come from
// ParseConfig/LoadConfig is checked and given its defaults here.
func New(cfg *Config, opts Options) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("devcore: no configuration")
	}
	if err := cfg.applyDefaults(); err != nil {
		return nil, err
	}
	if opts.CoreVersion != "" {
		if _, err := lookupCoreRelease(opts.CoreVersion); err != nil {
			return nil, fmt.Errorf("devcore: core version %w", err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		log:         log,
		coreVersion: opts.CoreVersion,
		mux:         http.NewServeMux(),
		closeDone:   make(chan struct{}),
		watchSettle: 200 * time.Millisecond,
	}
	s.cfg.Store(s.speakingAs(cfg))
	s.ctl = newControlPlane(s)
	s.idp = newIdentityProvider(s)
	s.ctl.routes(s.mux)
	s.idp.routes(s.mux)
	s.httpSrv = &http.Server{
		Handler:           s.untrustedForwarding(s.mux),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler is the devcore's whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.httpSrv.Handler }

// config is the configuration in force; never mutated, replaced whole.
func (s *Server) config() *Config { return s.cfg.Load() }

// SetConfig puts c in force and sends TRIGGER_UPDATE to the connected
// instances of every outpost whose view (outpost object, its providers, their
// certificates) changed. Connections of an outpost that is gone or whose
// token changed are closed (1008). A Config not yet checked is checked here;
// on error the configuration in force stays.
func (s *Server) SetConfig(c *Config) error {
	if c == nil {
		return errors.New("devcore: no configuration")
	}
	if err := c.applyDefaults(); err != nil {
		return err
	}
	c = s.speakingAs(c)
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	old := s.cfg.Load()
	if c != old {
		keepGeneratedCerts(c, old)
	}
	s.cfg.Store(c)
	s.ctl.configChanged(old, c)
	return nil
}

// Serve serves on ln until ctx is done (then it closes the Server) or Close
// is called; either way it returns nil once everything is closed. Other
// errors come from the listener.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	err := s.httpSrv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-s.closeDone
		return nil
	}
	return err
}

// Close sends every outpost websocket a close frame with code 1012 (service
// restart), waits briefly for the handshakes, then shuts the HTTP server
// down. Afterwards nothing of the Server holds a connection or the listener,
// so a new Server can serve on the same address. Safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.ctl.shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			// Requests still running after the grace period are cut.
			s.closeErr = s.httpSrv.Close()
		}
		close(s.closeDone)
	})
	<-s.closeDone
	return s.closeErr
}
