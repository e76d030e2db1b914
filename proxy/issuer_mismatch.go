package proxy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// A core builds a token's iss from the Host and X-Forwarded-Proto of the
// outpost's back-channel request (spec §7.2), while the issuer the outpost
// expects comes from the provider's oidc_configuration with the browser's
// host. authentik 2026.8+ honours X-Forwarded-* only from its own trusted
// CIDRs, and takes its URLs from AUTHENTIK_WEB__BASE_URL when that is set,
// so a core upgraded without either starts issuing tokens whose iss the
// outpost refuses, and every sign-in fails. The refusal stays; the log
// says what to change.

// issuerMismatchError is a token from a core whose iss is not the issuer
// the provider's oidc_configuration names.
type issuerMismatchError struct {
	got, want string
	cause     error
}

func (e *issuerMismatchError) Error() string {
	return fmt.Sprintf("the token's iss is %q but the provider's oidc_configuration names the issuer %q: "+
		"the core builds iss from the Host and X-Forwarded-Proto of the outpost's request; "+
		"a 2026.8+ core honours X-Forwarded-* only from the addresses in its AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS "+
		"(add the outpost's address there) and names itself from AUTHENTIK_WEB__BASE_URL when that is set "+
		"(set it to the URL browsers use); see docs/configuration.md, \"Behind a 2026.8+ core\" (%v)", e.got, e.want, e.cause)
}

func (e *issuerMismatchError) Unwrap() error { return e.cause }

// explainCoreIssuer turns a verification failure of a token the core
// issued into an issuerMismatchError when the token's iss (read without
// trusting it: the token was already refused) differs from want.
func explainCoreIssuer(err error, raw, want string) error {
	if err == nil || want == "" {
		return err
	}
	got, ok := unverifiedIssuer(raw)
	if !ok || got == want {
		return err
	}
	return &issuerMismatchError{got: got, want: want, cause: err}
}

// unverifiedIssuer is the iss claim of a compact JWT, unverified.
func unverifiedIssuer(raw string) (string, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Iss == "" {
		return "", false
	}
	return claims.Iss, true
}
