package outpostapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// The redirect URI of a standalone provider. authentik registers its own
// form, <external_host>/outpost.goauthentik.io/callback?X-authentik-auth-callback=true,
// and a core's providers keep it (the wire contract). Other issuers are
// registered by hand, and some (Dex among them) match the URI byte for byte
// or refuse a query in it: so a standalone provider sends the plain path by
// default, and redirect_uri overrides it.

// CallbackPath is the outpost's sign-in callback on every provider host.
const CallbackPath = "/outpost.goauthentik.io/callback"

// CallbackMarker is authentik's callback marker: with it in the query, any
// path of a provider host is the callback.
const CallbackMarker = "X-authentik-auth-callback"

// standaloneRedirectURI is the redirect URI a standalone provider sends:
// override when set (checked), else the external host's scheme, host and
// path joined with CallbackPath.
func standaloneRedirectURI(override string, external *url.URL) (string, error) {
	if override == "" {
		u := url.URL{Scheme: external.Scheme, Host: external.Host}
		return u.String() + JoinCallbackPath(external.Path), nil
	}
	u, err := url.Parse(override)
	if err != nil {
		return "", err
	}
	if u.Scheme != external.Scheme || !strings.EqualFold(u.Host, external.Host) {
		// The login cookie lives on the external host: a callback anywhere
		// else would never see it.
		return "", fmt.Errorf("%q: must be on the external host (%s://%s), where the sign-in cookie lives", override, external.Scheme, external.Host)
	}
	if u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: no fragment or user info allowed", override)
	}
	if !strings.EqualFold(u.Query().Get(CallbackMarker), "true") && !strings.HasSuffix(u.Path, CallbackPath) {
		// Any other path belongs to the application behind the outpost.
		return "", fmt.Errorf("%q: the path must end in %s, or the query carry %s=true", override, CallbackPath, CallbackMarker)
	}
	return override, nil
}

// JoinCallbackPath is CallbackPath under an external host's path, as the
// outpost joins paths (spec §7.1).
func JoinCallbackPath(base string) string {
	if base == "" || base == "/" {
		return CallbackPath
	}
	if base[len(base)-1] == '/' {
		return base + CallbackPath[1:]
	}
	return base + CallbackPath
}

// RedirectCallbackPath is the path the outpost must treat as the callback
// for a redirect URI, "" when its query carries the marker (any path then
// is) or it cannot be parsed.
func RedirectCallbackPath(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || strings.EqualFold(u.Query().Get(CallbackMarker), "true") {
		return ""
	}
	return u.Path
}

var errNoExternalURL = errors.New("no external URL")

// SetStandaloneRedirectURI fills p.RedirectURI from an override ("" for the
// default); it is what ParseStatic does for every provider.
func SetStandaloneRedirectURI(p *Provider, override string) error {
	if p.ExternalURL == nil {
		return errNoExternalURL
	}
	uri, err := standaloneRedirectURI(override, p.ExternalURL)
	if err != nil {
		return err
	}
	p.RedirectURI = uri
	return nil
}
