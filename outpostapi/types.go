// Package outpostapi is the outpost's side of the core contract
// (docs/core-protocol.md; "spec §N" in comments cites the sections of that
// contract as read from authentik 2026.2): the wire types, the REST client,
// the websocket control channel, and the two configuration sources behind
// one Source interface, the core and the YAML file used without a core.
//
// Wire types are strict in what they send and tolerant in what they accept:
// every property the core's schema requires is always marshalled (no
// omitempty on required fields), and decoding ignores unknown fields.
package outpostapi

import "encoding/json"

// Pagination is the envelope of every list endpoint (spec §3.1). next and
// previous are page numbers, 0 when absent.
type Pagination struct {
	Next       int `json:"next"`
	Previous   int `json:"previous"`
	Count      int `json:"count"`
	Current    int `json:"current"`
	TotalPages int `json:"total_pages"`
	StartIndex int `json:"start_index"`
	EndIndex   int `json:"end_index"`
}

// Paginated is a list response. Autocomplete is required by the schema but
// carries nothing the outpost uses.
type Paginated[T any] struct {
	Pagination   Pagination     `json:"pagination"`
	Results      []T            `json:"results"`
	Autocomplete map[string]any `json:"autocomplete"`
}

// Outpost is one item of GET /api/v3/outposts/instances/ (spec §3.3).
type Outpost struct {
	PK                   string          `json:"pk"`
	Name                 string          `json:"name"`
	Type                 string          `json:"type"`
	Providers            []int           `json:"providers"`
	ProvidersObj         []ProviderRef   `json:"providers_obj"`
	ServiceConnection    *string         `json:"service_connection"`
	ServiceConnectionObj json.RawMessage `json:"service_connection_obj"`
	RefreshIntervalS     int             `json:"refresh_interval_s"`
	TokenIdentifier      string          `json:"token_identifier"`
	Config               map[string]any  `json:"config"`
	Managed              *string         `json:"managed"`
}

// ProviderRef is an item of Outpost.providers_obj.
type ProviderRef struct {
	PK                                 int    `json:"pk"`
	Name                               string `json:"name"`
	AuthorizationFlow                  string `json:"authorization_flow"`
	InvalidationFlow                   string `json:"invalidation_flow"`
	Component                          string `json:"component"`
	AssignedApplicationSlug            string `json:"assigned_application_slug"`
	AssignedApplicationName            string `json:"assigned_application_name"`
	AssignedBackchannelApplicationSlug string `json:"assigned_backchannel_application_slug"`
	AssignedBackchannelApplicationName string `json:"assigned_backchannel_application_name"`
	VerboseName                        string `json:"verbose_name"`
	VerboseNamePlural                  string `json:"verbose_name_plural"`
	MetaModelName                      string `json:"meta_model_name"`
}

// Provider modes (spec §3.2).
const (
	ModeProxy         = "proxy"
	ModeForwardSingle = "forward_single"
	ModeForwardDomain = "forward_domain"
)

// ProxyOutpostConfig is one item of GET /api/v3/outposts/proxy/ (spec §3.2).
type ProxyOutpostConfig struct {
	PK                         int                        `json:"pk" yaml:"pk"`
	Name                       string                     `json:"name" yaml:"name"`
	InternalHost               string                     `json:"internal_host" yaml:"internal_host"`
	ExternalHost               string                     `json:"external_host" yaml:"external_host"`
	InternalHostSSLValidation  bool                       `json:"internal_host_ssl_validation" yaml:"internal_host_ssl_validation"`
	ClientID                   string                     `json:"client_id" yaml:"client_id"`
	ClientSecret               string                     `json:"client_secret" yaml:"client_secret"`
	OIDCConfiguration          OpenIDConnectConfiguration `json:"oidc_configuration" yaml:"-"`
	CookieSecret               string                     `json:"cookie_secret" yaml:"cookie_secret"`
	Certificate                *string                    `json:"certificate" yaml:"-"`
	SkipPathRegex              string                     `json:"skip_path_regex" yaml:"skip_path_regex"`
	BasicAuthEnabled           bool                       `json:"basic_auth_enabled" yaml:"basic_auth_enabled"`
	BasicAuthPasswordAttribute string                     `json:"basic_auth_password_attribute" yaml:"basic_auth_password_attribute"`
	BasicAuthUserAttribute     string                     `json:"basic_auth_user_attribute" yaml:"basic_auth_user_attribute"`
	Mode                       string                     `json:"mode" yaml:"mode"`
	CookieDomain               string                     `json:"cookie_domain" yaml:"cookie_domain"`
	AccessTokenValidity        *float64                   `json:"access_token_validity" yaml:"access_token_validity"`
	InterceptHeaderAuth        bool                       `json:"intercept_header_auth" yaml:"intercept_header_auth"`
	ScopesToRequest            []string                   `json:"scopes_to_request" yaml:"scopes_to_request"`
	AssignedApplicationSlug    string                     `json:"assigned_application_slug" yaml:"assigned_application_slug"`
	AssignedApplicationName    string                     `json:"assigned_application_name" yaml:"assigned_application_name"`

	// undecodable is set when the core sent this provider with a value of
	// a type the outpost does not know (providers_decode.go); validation
	// then leaves the provider out, naming the field.
	undecodable *ProviderError
}

// OpenIDConnectConfiguration is the provider's OIDC metadata as the core
// computed it from the outpost's API request host (spec §3.2).
type OpenIDConnectConfiguration struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
}

// RootConfig is GET /api/v3/root/config/ (spec §3.4).
type RootConfig struct {
	ErrorReporting       ErrorReporting `json:"error_reporting"`
	Capabilities         OpenStrings    `json:"capabilities"`
	CacheTimeout         int            `json:"cache_timeout"`
	CacheTimeoutFlows    int            `json:"cache_timeout_flows"`
	CacheTimeoutPolicies int            `json:"cache_timeout_policies"`
}

// ErrorReporting is RootConfig.error_reporting.
type ErrorReporting struct {
	Enabled          bool    `json:"enabled"`
	SentryDSN        string  `json:"sentry_dsn"`
	Environment      string  `json:"environment"`
	SendPII          bool    `json:"send_pii"`
	TracesSampleRate float64 `json:"traces_sample_rate"`
}

// CertificateKeyPair is GET /api/v3/crypto/certificatekeypairs/<uuid>/; the
// outpost reads only the fingerprint to decide whether to re-download.
type CertificateKeyPair struct {
	PK                  string `json:"pk"`
	Name                string `json:"name"`
	FingerprintSHA256   string `json:"fingerprint_sha256"`
	FingerprintSHA1     string `json:"fingerprint_sha1"`
	PrivateKeyAvailable bool   `json:"private_key_available"`
}

// CertificateData is the body of view_certificate/ and view_private_key/.
type CertificateData struct {
	Data string `json:"data"`
}

// Event is the body POSTed to /api/v3/events/events/ (spec §3.4).
type Event struct {
	Action   string         `json:"action"`
	App      string         `json:"app"`
	ClientIP string         `json:"client_ip"`
	Context  map[string]any `json:"context"`
}

// Websocket instructions (spec §2.2).
const (
	InstructionACK              = 0
	InstructionHello            = 1
	InstructionTriggerUpdate    = 2
	InstructionProviderSpecific = 3
	InstructionSessionEnd       = 4
)

// WebsocketMessage is one text frame on the control channel. Args is always
// sent as an object, never null.
type WebsocketMessage struct {
	Instruction int            `json:"instruction"`
	Args        map[string]any `json:"args"`
}

// MarshalJSON guarantees args is an object on the wire.
func (m WebsocketMessage) MarshalJSON() ([]byte, error) {
	args := m.Args
	if args == nil {
		args = map[string]any{}
	}
	type wire WebsocketMessage
	return json.Marshal(wire{Instruction: m.Instruction, Args: args})
}

// SessionEnd is what the core asks the outpost to forget: every local session
// whose stored sid claim equals SessionID (spec §2.2, §13.2, §19).
type SessionEnd struct {
	SessionID string
	// Legacy is true when it came as PROVIDER_SPECIFIC/logout (cores before 2025.8).
	Legacy bool
}
