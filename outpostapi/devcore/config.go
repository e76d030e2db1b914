// Package devcore is a stand-in for an authentik core: it serves outposts and
// proxy providers from a YAML file over the same REST + websocket contract
// (shared/spec/core-protocol.md), and the OAuth2/OIDC endpoints of a proxy
// provider with a small login form, so the demo and the tests run with
// nothing else installed.
package devcore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Config is the devcore YAML file.
type Config struct {
	// Listen is the address to serve on when not given on the command line.
	Listen string `yaml:"listen"`
	// Outposts the core knows; each outpost token sees only its own outpost.
	Outposts []OutpostConfig `yaml:"outposts"`
	// Providers are proxy providers; each is bound to the application Slug.
	Providers []ProviderConfig `yaml:"providers"`
	// Certificates are TLS keypairs providers may reference by name.
	Certificates []CertificateConfig `yaml:"certificates"`
	Users        []UserConfig        `yaml:"users"`
	Groups       []GroupConfig       `yaml:"groups"`
	// AdminToken guards the devcore admin endpoints (status, ending a user's
	// sessions). Empty: those endpoints accept any outpost token.
	AdminToken string `yaml:"admin_token"`
}

// OutpostConfig is one outpost.
type OutpostConfig struct {
	PK   string `yaml:"pk"` // dashed UUID
	Name string `yaml:"name"`
	// Token is the outpost's API token (AUTHENTIK_TOKEN of the outpost).
	Token string `yaml:"token"`
	// RefreshIntervalS is sent as refresh_interval_s (default 300).
	RefreshIntervalS int `yaml:"refresh_interval_s"`
	// Config is the free-form outpost config object (log_level,
	// authentik_host, ...), sent as is.
	Config map[string]any `yaml:"config"`
	// Providers lists provider names assigned to this outpost.
	Providers []string `yaml:"providers"`
}

// ProviderConfig is one proxy provider and the application it is bound to.
type ProviderConfig struct {
	PK                         int      `yaml:"pk"` // default: position in the file, from 1
	Name                       string   `yaml:"name"`
	Mode                       string   `yaml:"mode"` // default proxy
	ExternalHost               string   `yaml:"external_host"`
	InternalHost               string   `yaml:"internal_host"`
	InternalHostSSLValidation  *bool    `yaml:"internal_host_ssl_validation"` // default true
	ClientID                   string   `yaml:"client_id"`
	ClientSecret               string   `yaml:"client_secret"`
	CookieSecret               string   `yaml:"cookie_secret"`
	CookieDomain               string   `yaml:"cookie_domain"`
	SkipPathRegex              string   `yaml:"skip_path_regex"`
	BasicAuthEnabled           bool     `yaml:"basic_auth_enabled"`
	BasicAuthPasswordAttribute string   `yaml:"basic_auth_password_attribute"`
	BasicAuthUserAttribute     string   `yaml:"basic_auth_user_attribute"`
	InterceptHeaderAuth        *bool    `yaml:"intercept_header_auth"` // default true
	AccessTokenValidity        *float64 `yaml:"access_token_validity"` // seconds, default 86400 (hours=24)
	ScopesToRequest            []string `yaml:"scopes_to_request"`     // default openid email profile entitlements ak_proxy
	// Certificate names an entry of Config.Certificates.
	Certificate string `yaml:"certificate"`
	// Application the provider is bound to.
	ApplicationSlug string `yaml:"application_slug"` // default: name
	ApplicationName string `yaml:"application_name"` // default: name
	// AllowedGroups limits who may authorize at this application (the
	// core's policy binding); empty: every user.
	AllowedGroups []string `yaml:"allowed_groups"`
}

// CertificateConfig is a TLS keypair. With CertFile/KeyFile empty a
// self-signed certificate for the names in Hosts is generated at load.
type CertificateConfig struct {
	UUID     string   `yaml:"uuid"`
	Name     string   `yaml:"name"`
	CertFile string   `yaml:"cert_file"`
	KeyFile  string   `yaml:"key_file"`
	Hosts    []string `yaml:"hosts"`
}

// UserConfig is a user who can sign in at the devcore login form.
type UserConfig struct {
	Username string `yaml:"username"`
	// PasswordHash is a bcrypt hash; plain passwords are never stored.
	PasswordHash string         `yaml:"password_hash"`
	Email        string         `yaml:"email"`
	Name         string         `yaml:"name"`
	IsSuperuser  bool           `yaml:"is_superuser"`
	Groups       []string       `yaml:"groups"`
	Attributes   map[string]any `yaml:"attributes"`
	// AppPasswords are bcrypt hashes of app passwords, accepted by the
	// client_credentials grant (username + password).
	AppPasswords []string `yaml:"app_passwords"`
}

// GroupConfig is a group; its attributes are merged under the user's.
type GroupConfig struct {
	Name       string         `yaml:"name"`
	Attributes map[string]any `yaml:"attributes"`
}

// LoadConfig reads and checks a devcore YAML file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a devcore YAML document, rejecting unknown fields, and
// fills defaults. Errors name the line or the field at fault.
func ParseConfig(b []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("empty configuration")
		}
		return nil, err
	}
	if err := c.applyDefaults(); err != nil {
		return nil, err
	}
	return &c, nil
}

// applyDefaults fills defaults and checks references between sections.
func (c *Config) applyDefaults() error { return nil }
