package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Listener timeouts. There is deliberately no write timeout: proxied
// responses (streams, SSE, long downloads, slow queries) must not be cut.
// Slow clients are still bounded by the header and idle timeouts, request
// bodies by GuardBodies' idle deadline, connections by ConnLimit.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

// NewHTTPServer wraps h in an http.Server with the outpost's timeouts and
// GuardBodies at DefaultBodyIdleTimeout.
func NewHTTPServer(h http.Handler) *http.Server {
	return NewHTTPServerWith(h, DefaultBodyIdleTimeout)
}

// NewHTTPServerWith is NewHTTPServer with request bodies allowed to stall
// for bodyIdle (OUTPOST_LISTEN__BODY_IDLE_TIMEOUT).
func NewHTTPServerWith(h http.Handler, bodyIdle time.Duration) *http.Server {
	return &http.Server{
		Handler:           GuardBodies(h, bodyIdle),
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    1 << 20,
	}
}

// Serve runs srv on ln until ctx is done, then stops accepting and drains
// in-flight requests for at most drain before closing what is left.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		_ = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
