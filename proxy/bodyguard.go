package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// DefaultBodyIdleTimeout is how long a request body may go without a byte
// arriving before the read fails (OUTPOST_LISTEN__BODY_IDLE_TIMEOUT).
// An upload that keeps making progress is never cut.
const DefaultBodyIdleTimeout = 60 * time.Second

// unreadBodyGrace bounds how long net/http may still drain a body the
// handler left unread once the answer is out. Without a deadline it waits
// for the whole declared body (up to 256 KB, maxPostHandlerReadBytes),
// forever, and only then sends the answer. The grace lets an honest client
// that already sent its body see a clean close instead of a reset.
const unreadBodyGrace = time.Second

// GuardBodies keeps a client's request body from holding a connection:
//
//   - every read of the body waits at most idle for the next bytes, so a
//     stalled upload (or a POST that announces more than it sends) fails
//     instead of parking the connection; progress extends the deadline;
//   - an answer written while the body is not read to its end says
//     "Connection: close", so net/http does not first wait for the rest of
//     the body; after the handler the drain is bounded by unreadBodyGrace.
//
// Requests without a body pass through untouched. idle <= 0 turns the
// idle deadline off (the close-on-unread answer stays).
func GuardBodies(h http.Handler, idle time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		g := &guardedWriter{ResponseWriter: w, rc: http.NewResponseController(w), http1: r.ProtoMajor == 1}
		g.body = guardedBody{src: r.Body, w: g, idle: idle}
		r.Body = &g.body
		h.ServeHTTP(g, r)
		g.finish()
	})
}

// guardedBody is a request body whose reads have an idle deadline.
type guardedBody struct {
	src  io.ReadCloser
	w    *guardedWriter
	idle time.Duration
	// eof: read to its end; net/http then reads the next request itself.
	eof atomic.Bool
	// stalled: a read hit the idle deadline.
	stalled atomic.Bool
	// finished: the handler returned; a late reader (a transport's write
	// loop) must not move the connection's deadline any more.
	finished atomic.Bool
}

func (b *guardedBody) Read(p []byte) (int, error) {
	if b.idle > 0 && !b.eof.Load() && !b.finished.Load() {
		// Before each read, not after: time spent waiting on the upstream
		// between reads is not the client's stall.
		_ = b.w.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.src.Read(p)
	switch {
	case err == io.EOF:
		b.eof.Store(true)
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		b.stalled.Store(true)
	}
	return n, err
}

func (b *guardedBody) Close() error { return b.src.Close() }

// guardedWriter marks the connection to close when the answer starts
// before the body was read to its end.
type guardedWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	body     guardedBody
	http1    bool
	started  atomic.Bool
	hijacked atomic.Bool
}

// start runs once, just before the status line goes out.
func (g *guardedWriter) start() {
	if g.started.CompareAndSwap(false, true) && g.http1 && !g.body.eof.Load() {
		// HTTP/2 has no Connection header; its streams end on their own.
		g.ResponseWriter.Header().Set("Connection", "close")
	}
}

func (g *guardedWriter) WriteHeader(code int) {
	// 1xx are interim (100 Continue asks for the body): not the answer.
	if code >= 200 {
		g.start()
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *guardedWriter) Write(b []byte) (int, error) {
	g.start()
	return g.ResponseWriter.Write(b)
}

func (g *guardedWriter) Flush() {
	g.start()
	_ = g.rc.Flush()
}

func (g *guardedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := g.rc.Hijack()
	if err == nil {
		g.hijacked.Store(true)
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (g *guardedWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// finish runs after the handler: a body left unread closes the connection
// within unreadBodyGrace, and a stalled body that got no answer gets 408
// rather than the empty 200 net/http would send.
func (g *guardedWriter) finish() {
	g.body.finished.Store(true)
	if g.hijacked.Load() || g.body.eof.Load() {
		return
	}
	if g.body.stalled.Load() && !g.started.Load() {
		answerBodyTimeout(g)
	}
	g.start()
	_ = g.rc.SetReadDeadline(time.Now().Add(unreadBodyGrace))
}

// bodyStalled reports whether the body of the request w answers hit the
// idle deadline (an error handler answers 408 then, not 502). It finds the
// guard by unwrapping w: ReverseProxy hands error handlers its own copy
// of the request, with the body wrapped.
func bodyStalled(w http.ResponseWriter) bool {
	for {
		if g, ok := w.(*guardedWriter); ok {
			return g.body.stalled.Load()
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

func answerBodyTimeout(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.Error(w, "request body timed out: no bytes arrived in time", http.StatusRequestTimeout)
}
