package devcore

import "net/http"

// controlPlane serves the outpost-facing REST API and websocket.
type controlPlane struct {
	s *Server
}

func newControlPlane(s *Server) *controlPlane { return &controlPlane{s: s} }

func (c *controlPlane) routes(mux *http.ServeMux) {}

// broadcastSessionEnd sends SESSION_END with sessionID (hex sha256 of the
// core session key) to every connected outpost instance.
func (c *controlPlane) broadcastSessionEnd(sessionID string) {}
