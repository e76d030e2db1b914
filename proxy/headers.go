package proxy

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// identityHeaderNames are the twelve headers of spec §9.1, set on every
// authenticated request even when empty.
var identityHeaderNames = []string{
	"X-Authentik-Username", "X-Authentik-Groups", "X-Authentik-Entitlements", "X-Authentik-Email",
	"X-Authentik-Name", "X-Authentik-Uid", "X-Authentik-Jwt", "X-Authentik-Meta-Jwks",
	"X-Authentik-Meta-Outpost", "X-Authentik-Meta-Provider", "X-Authentik-Meta-App", "X-Authentik-Meta-Version",
}

// identityInfo is what the identity headers are made of besides the claims.
type identityInfo struct {
	RawToken string // X-authentik-jwt
	JWKS     string
	Outpost  string
	Provider string
	App      string
	Version  string // goauthentik.io/outpost/<version>[+<build>]
	// Standalone: the provider's issuer is not an authentik core, so
	// ak_proxy in its claims is ignored.
	Standalone bool
	// Basic-auth injection (spec §9.3).
	BasicAuthEnabled           bool
	BasicAuthUserAttribute     string
	BasicAuthPasswordAttribute string
	// Additional learns the additionalHeaders names set (nil: not kept).
	Additional *additionalNames
}

// stripIdentityHeaders removes every header a client could use to pose as
// someone: any name that starts with x-authentik (whatever the letter case)
// and any name with a character other than a letter, a digit or "-". CGI,
// WSGI and PHP gateways fold "_", ".", "~" and the rest into "_", so
// X.Authentik.Username reads as X-Authentik-Username there; nginx drops
// such names by default too. It runs on every path, authenticated or
// skipped.
func stripIdentityHeaders(h http.Header) {
	for name := range h {
		if !plainHeaderName(name) || hasPrefixFold(name, "X-Authentik") {
			delete(h, name)
		}
	}
}

// plainHeaderName: only letters, digits and "-".
func plainHeaderName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// identityRoom is how many headers the identity adds at most, usually:
// the twelve, Authorization and a few additional headers. A request's
// header map is sized for what the client sent, and growing it while the
// identity is added cost more than all the rest of the decision (issue 10).
const identityRoom = 16

// connectionHeaders are about the connection, not the user: an
// additionalHeaders value under one of these names could turn the request
// into a protocol upgrade or reframe it, so it is never set.
var connectionHeaders = map[string]bool{
	"Connection": true, "Upgrade": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Http2-Settings": true,
}

// setIdentityHeaders writes the identity of claims into h (the upstream
// request in proxy mode, the response in forward modes).
func setIdentityHeaders(h http.Header, claims map[string]any, info identityInfo) {
	// One backing array for the twelve values instead of one allocation
	// each; every header gets its own one-element, full-capacity slice, so
	// an append to one never reaches the next.
	vals := make([]string, len(identityHeaderNames))
	n := 0
	set := func(name, value string) {
		if n < len(vals) {
			vals[n] = value
			h[name] = vals[n : n+1 : n+1]
			n++
			return
		}
		h[name] = []string{value}
	}
	set("X-Authentik-Username", claimString(claims, "preferred_username"))
	set("X-Authentik-Groups", strings.Join(claimStrings(claims, "groups"), "|"))
	set("X-Authentik-Entitlements", strings.Join(claimStrings(claims, "entitlements"), "|"))
	set("X-Authentik-Email", claimString(claims, "email"))
	set("X-Authentik-Name", claimString(claims, "name"))
	set("X-Authentik-Uid", claimString(claims, "sub"))
	set("X-Authentik-Jwt", info.RawToken)
	set("X-Authentik-Meta-Jwks", info.JWKS)
	set("X-Authentik-Meta-Outpost", info.Outpost)
	set("X-Authentik-Meta-Provider", info.Provider)
	set("X-Authentik-Meta-App", info.App)
	set("X-Authentik-Meta-Version", info.Version)

	// ak_proxy is what an authentik core's provider adds to its tokens.
	// From any other issuer it is a claim like any other, and means
	// nothing: it must not choose headers, a backend or a password.
	akProxy, ok := claims["ak_proxy"].(map[string]any)
	if info.Standalone {
		akProxy, ok = nil, false
	}
	attrs, _ := akProxy["user_attributes"].(map[string]any)
	if info.BasicAuthEnabled {
		// A standalone issuer's basic-auth attributes are its own claims.
		from := attrs
		if info.Standalone {
			from = claims
		}
		if v := basicAuthValue(claims, from, info); v != "" {
			set("Authorization", v)
		}
	}
	if ok {
		// Only an object of headers counts (the reference crashed on
		// anything else); non-string values become empty, as there. Only
		// plain names: the outpost removes every other name from clients,
		// and a gateway folds "X.Role" and "X-Role" into one.
		if extra, ok := attrs["additionalHeaders"].(map[string]any); ok {
			for name, v := range extra {
				s, _ := v.(string)
				name = http.CanonicalHeaderKey(strings.TrimSpace(name))
				if name != "" && plainHeaderName(name) && !connectionHeaders[name] && (info.Additional == nil || info.Additional.allow(name)) {
					set(name, s)
				}
			}
		}
	}
	// Last, as in the reference: no header with "_" leaves, whoever set it.
	for name := range h {
		if strings.IndexByte(name, '_') >= 0 {
			delete(h, name)
		}
	}
}

// basicAuthValue is the Authorization header of spec §9.3, or "".
func basicAuthValue(claims, attrs map[string]any, info identityInfo) string {
	password, _ := attrs[info.BasicAuthPasswordAttribute].(string)
	if password == "" {
		return ""
	}
	user, ok := attrs[info.BasicAuthUserAttribute].(string)
	if !ok || info.BasicAuthUserAttribute == "" {
		user = claimString(claims, "email")
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func claimString(claims map[string]any, key string) string {
	s, _ := claims[key].(string)
	return s
}

// claimStrings reads a list claim; non-string items are skipped.
func claimStrings(claims map[string]any, key string) []string {
	switch v := claims[key].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
