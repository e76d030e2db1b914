package devcore

import (
	"net/http"

	"github.com/outpost-dev/outpost/outpostapi"
)

// discoveryDocument is the OpenID provider metadata of one application:
// the endpoints the core sends outposts in oidc_configuration, plus what
// the devcore supports.
type discoveryDocument struct {
	outpostapi.OpenIDConnectConfiguration
	GrantTypesSupported           []string `json:"grant_types_supported"`
	ScopesSupported               []string `json:"scopes_supported"`
	ClaimsSupported               []string `json:"claims_supported"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	ResponseModesSupported        []string `json:"response_modes_supported"`
	RequestParameterSupported     bool     `json:"request_parameter_supported"`
	ClaimsParameterSupported      bool     `json:"claims_parameter_supported"`
}

// handleDiscovery is GET /application/o/<slug>/.well-known/openid-configuration.
// Like authentik, every URL (the issuer too) is built from the request's
// own Host and scheme.
func (p *identityProvider) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	cfg := p.s.config()
	pc := providerBySlug(cfg, r.PathValue("slug"))
	if pc == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Not found."})
		return
	}
	doc := discoveryDocument{
		OpenIDConnectConfiguration:    oidcConfiguration(requestBaseURL(r), appSlug(pc), signingAlg(cfg, pc)),
		GrantTypesSupported:           []string{"authorization_code", "refresh_token", "client_credentials", "password"},
		ScopesSupported:               providerScopes(pc),
		CodeChallengeMethodsSupported: []string{"plain", "S256"},
		ResponseModesSupported:        []string{"query"},
		ClaimsSupported: []string{
			"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "sid",
			"email", "email_verified", "name", "given_name", "preferred_username", "nickname",
			"groups", "entitlements", "roles", "ak_proxy",
		},
	}
	writeJSON(w, http.StatusOK, doc)
}
