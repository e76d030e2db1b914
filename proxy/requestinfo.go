package proxy

import (
	"bufio"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net"
	"net/http"
)

// requestInfo is what the outpost learns about one request as it handles
// it: the access log line and the metrics are written from it at the end.
type requestInfo struct {
	origin origin
	id     string
	// Set once a provider handles the request.
	provider string
	// Set by the decision: result and method are metric label words,
	// user is preferred_username or sub.
	result string
	method string
	user   string
	// original is the request a forward-auth request asks about: the
	// access line names its method and URL, not the auth endpoint's.
	original *forwardRequest
}

type requestInfoKey struct{}

// requested is the method and escaped path a decision is about: the
// original request's for forward auth, else the request's own.
func requested(r *http.Request) (method, path string) {
	return infoOf(r).requested(r)
}

// requested is requested for a request whose record is info (nil outside
// the server).
func (info *requestInfo) requested(r *http.Request) (method, path string) {
	if info == nil || info.original == nil {
		return r.Method, r.URL.EscapedPath()
	}
	o := info.original
	method = r.Method
	if o.known {
		method = o.method
	}
	return method, o.url.EscapedPath()
}

// infoOf is the request's record, or nil outside the server.
func infoOf(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return info
}

func withInfo(r *http.Request, info *requestInfo) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
}

// newRequestID is 16 hex digits; it names a request in logs and pages, so
// it need not be unguessable.
func newRequestID() string {
	var raw [8]byte
	v := rand.Uint64()
	for i := range raw {
		raw[i] = byte(v >> (8 * i))
	}
	return hex.EncodeToString(raw[:])
}

// validRequestID accepts an X-Request-Id from a trusted proxy only when it
// is short and plain, so it can be logged and echoed as it is.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// responseRecorder notes the status and size of a response for the access
// log and metrics. It passes Flush and Hijack through, so streams and
// websockets behave as without it.
type responseRecorder struct {
	http.ResponseWriter
	status   int
	size     int64
	hijacked bool
}

func (rr *responseRecorder) WriteHeader(code int) {
	// 1xx are interim; the final status comes later.
	if rr.status == 0 && code >= 200 {
		rr.status = code
	}
	rr.ResponseWriter.WriteHeader(code)
}

func (rr *responseRecorder) Write(b []byte) (int, error) {
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	n, err := rr.ResponseWriter.Write(b)
	rr.size += int64(n)
	return n, err
}

func (rr *responseRecorder) Flush() {
	if rr.status == 0 {
		rr.status = http.StatusOK
	}
	_ = http.NewResponseController(rr.ResponseWriter).Flush()
}

func (rr *responseRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(rr.ResponseWriter).Hijack()
	if err == nil {
		rr.hijacked = true
	}
	return conn, brw, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (rr *responseRecorder) Unwrap() http.ResponseWriter { return rr.ResponseWriter }

// statusCode is the status the client got: 101 for a hijacked (upgraded)
// connection, 200 when the handler wrote nothing.
func (rr *responseRecorder) statusCode() int {
	switch {
	case rr.status != 0:
		return rr.status
	case rr.hijacked:
		return http.StatusSwitchingProtocols
	}
	return http.StatusOK
}
