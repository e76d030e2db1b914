package outpostapi

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/assertion"
	"github.com/outpost-dev/outpost/authz"
)

// Snapshot is one complete, validated configuration. It is built once per
// refresh and never mutated afterwards, so the data plane can hold it without
// locks and swap it atomically.
type Snapshot struct {
	Outpost   OutpostInfo
	Providers []Provider // valid providers, in the order received (name order from a core)
	Rejected  []ProviderError
	// Certificates by keypair UUID, for providers that reference one.
	Certificates map[string]Certificate
	// Source says where it came from: "core" or the YAML file path.
	Source   string
	LoadedAt time.Time
}

// OutpostInfo is the part of the outpost object the data plane needs.
type OutpostInfo struct {
	PK   string
	Name string
	Type string
	// LogLevel is the core's log_level ("" when the core did not set one or
	// the outpost is managed/embedded, in which case the env level stays).
	LogLevel string
	// AuthentikHost is config.authentik_host ("" when absent or not a string).
	AuthentikHost   string
	RefreshInterval time.Duration
}

// Certificate is a TLS keypair downloaded from the core, or read from files
// in standalone mode.
type Certificate struct {
	UUID        string
	Fingerprint string
	CertPEM     string
	KeyPEM      string
	// CertFile and KeyFile are where a standalone keypair was read from
	// (absolute paths; watched for rotation); empty for a core's keypair.
	CertFile, KeyFile string
}

// Provider is a ProxyOutpostConfig that passed validation, with its URLs and
// regexps parsed once.
type Provider struct {
	ProxyOutpostConfig
	// Issuer is set for standalone providers: OIDC discovery happens at this
	// issuer instead of using OIDCConfiguration.
	Issuer string
	// RedirectURI is the redirect URI sent to a standalone issuer
	// (redirecturi.go); "" for a core's provider, which sends authentik's.
	RedirectURI string

	ExternalURL *url.URL
	InternalURL *url.URL // nil when internal_host is empty (forward modes)
	SkipPaths   []*regexp.Regexp
	// Policy is who may pass once signed in (standalone rules); nil: anyone
	// the identity provider signed in.
	Policy *authz.Policy
	// AllowedUpgrades are the protocols a client may upgrade to in proxy
	// mode (standalone allowed_upgrades); nil: the outpost's default
	// (OUTPOST_PROXY__ALLOWED_UPGRADES).
	AllowedUpgrades []string
	// SessionLifetime is the longest a session lasts from sign-in
	// (standalone session_lifetime); 0: the outpost's default for the mode.
	SessionLifetime time.Duration
	// ResponseHeaderTimeout bounds the wait for the upstream's response
	// headers (standalone response_header_timeout); 0: the outpost's
	// (OUTPOST_PROXY__RESPONSE_HEADER_TIMEOUT).
	ResponseHeaderTimeout time.Duration
	// Assertion is the signed identity assertion (standalone assertion);
	// nil: the outpost's default (OUTPOST_ASSERTION__*).
	Assertion *assertion.Settings
	// ProtectedResourceMetadata says whether the provider serves OAuth
	// protected resource metadata (RFC 9728; standalone
	// protected_resource_metadata); nil: the outpost's default
	// (OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA).
	ProtectedResourceMetadata *bool
}

// ProviderError says why a provider was left out of a snapshot.
type ProviderError struct {
	Provider string // provider name (or "#<index>" when it has none)
	Field    string // the JSON/YAML field at fault
	Line     int    // line in the YAML file, 0 when not from a file
	Err      string
}

func (e ProviderError) Error() string {
	where := ""
	if e.Line > 0 {
		where = fmt.Sprintf("line %d: ", e.Line)
	}
	return fmt.Sprintf("%sprovider %q: %s: %s", where, e.Provider, e.Field, e.Err)
}

// ValidateProvider checks the fields the data plane depends on and parses
// them. It never guesses: a value it cannot use is an error naming the field.
func ValidateProvider(c ProxyOutpostConfig, issuer string) (Provider, *ProviderError) {
	return validateProvider(c, issuer, CompileSkipPaths)
}

// validateProvider is ValidateProvider with the skip_path_regex compiler
// given (a cache, in a refresh).
func validateProvider(c ProxyOutpostConfig, issuer string, compileSkipPaths func(string) ([]*regexp.Regexp, error)) (Provider, *ProviderError) {
	p := Provider{ProxyOutpostConfig: c, Issuer: issuer}
	fail := func(field, format string, args ...any) (Provider, *ProviderError) {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("pk=%d", c.PK)
		}
		return Provider{}, &ProviderError{Provider: name, Field: field, Err: fmt.Sprintf(format, args...)}
	}
	if c.undecodable != nil {
		return Provider{}, c.undecodable
	}
	if strings.TrimSpace(c.Name) == "" {
		return fail("name", "must not be empty")
	}
	switch c.Mode {
	case ModeProxy, ModeForwardSingle, ModeForwardDomain:
	default:
		return fail("mode", "unknown mode %q (want proxy, forward_single or forward_domain)", c.Mode)
	}
	u, err := parseHTTPURL(c.ExternalHost)
	if err != nil {
		return fail("external_host", "%v", err)
	}
	p.ExternalURL = u
	if c.InternalHost != "" || c.Mode == ModeProxy {
		u, err := parseHTTPURL(c.InternalHost)
		if err != nil {
			return fail("internal_host", "%v", err)
		}
		p.InternalURL = u
	}
	if c.ClientID == "" {
		return fail("client_id", "must not be empty")
	}
	if c.CookieSecret == "" {
		return fail("cookie_secret", "must not be empty")
	}
	if c.Mode == ModeForwardDomain && strings.Trim(c.CookieDomain, ".") == "" {
		return fail("cookie_domain", "must be set in forward_domain mode")
	}
	if c.AccessTokenValidity != nil && *c.AccessTokenValidity < 0 {
		return fail("access_token_validity", "must not be negative")
	}
	skip, err := compileSkipPaths(c.SkipPathRegex)
	if err != nil {
		return fail("skip_path_regex", "%v", err)
	}
	p.SkipPaths = skip
	if issuer != "" {
		if _, err := parseHTTPURL(issuer); err != nil {
			return fail("issuer", "%v", err)
		}
	} else if c.OIDCConfiguration.AuthorizationEndpoint == "" || c.OIDCConfiguration.TokenEndpoint == "" {
		return fail("oidc_configuration", "authorization_endpoint and token_endpoint are required")
	}
	return p, nil
}

// CompileSkipPaths compiles the newline-separated skip_path_regex. Blank
// lines are ignored (in the reference they allow every URL); a line that does
// not compile is an error, so a typo never widens or silently narrows access.
func CompileSkipPaths(s string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		re, err := regexp.Compile(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// compileSharedSkipPaths is CompileSkipPaths for a result providers share
// (a refresh's reuse.Cache): compiled expressions are safe for concurrent
// use and never changed, and the slice is full, so that an append by one
// provider never writes into another's.
func compileSharedSkipPaths(s string) ([]*regexp.Regexp, error) {
	res, err := CompileSkipPaths(s)
	return res[:len(res):len(res)], err
}

func parseHTTPURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q: has no host", s)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q: must not contain user info", s)
	}
	return u, nil
}

// ClampRefreshInterval applies the spec's clamps to refresh_interval_s
// (≤0 → 300 s, <30 → 30 s).
func ClampRefreshInterval(seconds int) time.Duration {
	switch {
	case seconds <= 0:
		return 300 * time.Second
	case seconds < 30:
		return 30 * time.Second
	}
	return time.Duration(seconds) * time.Second
}
