package outpostapi

import (
	"fmt"
	"net/url"
)

// CoreEndpoint is where the core is and how to reach it (AUTHENTIK_HOST,
// AUTHENTIK_TOKEN, AUTHENTIK_INSECURE, read by internal/config).
type CoreEndpoint struct {
	// Host is the core's base URL: its path ends in "/", and its query is
	// kept for the websocket URL. Nil: there is no core.
	Host *url.URL
	// Token is the outpost's API token. Never log it; String and GoString
	// redact it.
	Token string
	// Insecure skips TLS verification towards the core, REST and
	// websocket alike.
	Insecure bool
}

// String redacts the token, so an endpoint printed by mistake leaks nothing.
func (c CoreEndpoint) String() string {
	host, tok := "", ""
	if c.Host != nil {
		host = c.Host.String()
	}
	if c.Token != "" {
		tok = "[redacted]"
	}
	return fmt.Sprintf("CoreEndpoint{Host:%q Token:%s Insecure:%t}", host, tok, c.Insecure)
}

// GoString redacts the token under %#v too.
func (c CoreEndpoint) GoString() string { return c.String() }
