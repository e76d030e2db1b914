package devcore

import (
	"net/http"
	"strings"

	"github.com/outpost-dev/outpost/outpostapi"
)

// requestBaseURL is scheme://host of the request as the core sees it: like
// authentik, URLs it hands out are built from the caller's Host, and the
// scheme honours X-Forwarded-Proto (the outpost sets it when it rewrites Host
// for back-channel calls, spec §7.2).
func requestBaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

// issuerURL is the per-provider issuer (authentik's default issuer mode).
func issuerURL(base, slug string) string {
	return base + "/application/o/" + slug + "/"
}

// oidcConfiguration is the provider metadata the core sends in
// oidc_configuration and serves at discovery; base is requestBaseURL, alg
// the provider's signing algorithm (signingAlg).
func oidcConfiguration(base, slug, alg string) outpostapi.OpenIDConnectConfiguration {
	return outpostapi.OpenIDConnectConfiguration{
		Issuer:                            issuerURL(base, slug),
		AuthorizationEndpoint:             base + "/application/o/authorize/",
		TokenEndpoint:                     base + "/application/o/token/",
		UserinfoEndpoint:                  base + "/application/o/userinfo/",
		EndSessionEndpoint:                base + "/application/o/" + slug + "/end-session/",
		IntrospectionEndpoint:             base + "/application/o/introspect/",
		JWKSURI:                           base + "/application/o/" + slug + "/jwks/",
		ResponseTypesSupported:            []string{"code", "id_token", "id_token token", "code token", "code id_token", "code id_token token"},
		IDTokenSigningAlgValuesSupported:  []string{alg},
		SubjectTypesSupported:             []string{"public"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "client_secret_basic"},
	}
}
