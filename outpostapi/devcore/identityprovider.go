package devcore

import "net/http"

// identityProvider serves the OAuth2/OIDC endpoints of proxy providers.
type identityProvider struct {
	s *Server
}

func newIdentityProvider(s *Server) *identityProvider { return &identityProvider{s: s} }

func (p *identityProvider) routes(mux *http.ServeMux) {}
