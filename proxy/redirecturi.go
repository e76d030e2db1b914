package proxy

import (
	"github.com/outpost-dev/outpost/outpostapi"
)

// The redirect URI each provider sends (outpostapi/redirecturi.go says why
// standalone providers differ from a core's), and the callback paths the
// outpost answers: the plain path always, the marker query on any path, and
// the path of a standalone provider's redirect_uri.

// providerRedirectURI is what the provider sends as redirect_uri: a core's
// provider keeps authentik's form exactly (spec §7.1).
func providerRedirectURI(p *outpostapi.Provider) string {
	if p.RedirectURI != "" {
		return p.RedirectURI
	}
	return redirectURI(p.ExternalURL)
}

// isCallbackPath reports whether path is this provider's sign-in callback
// (the marker query is handled by servedMarker, on any path).
func (a *application) isCallbackPath(path string) bool {
	return path == pathCallback || (a.callbackPath != "" && path == a.callbackPath)
}

// announceRedirectURIs logs, for each standalone provider whose redirect URI
// is new or changed, the exact URI to register at its issuer: an issuer that
// refuses it shows its own page, so the log is where the operator finds it.
// Called with s.updating held.
func (s *Server) announceRedirectURIs(apps map[*outpostapi.Provider]*application) {
	if s.redirectURIs == nil {
		s.redirectURIs = map[string]string{}
	}
	for p := range apps {
		if p.Issuer == "" {
			continue
		}
		uri := providerRedirectURI(p)
		if s.redirectURIs[p.Name] == uri {
			continue
		}
		s.redirectURIs[p.Name] = uri
		s.log.Info("register this redirect URI at the issuer", "provider", p.Name, "issuer", p.Issuer,
			"client_id", p.ClientID, "redirect_uri", uri)
	}
}
