// Package devcore is a stand-in for an authentik core: it serves outposts and
// proxy providers from a YAML file over the same REST + websocket contract
// (docs/core-protocol.md), and the OAuth2/OIDC endpoints of a proxy
// provider with a small login form, so the demo and the tests run with
// nothing else installed.
package devcore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/outpost-dev/outpost/outpostapi"
)

// Config is the devcore YAML file.
type Config struct {
	// Listen is the address to serve on when not given on the command line.
	Listen string `yaml:"listen"`
	// CoreVersion is the authentik release whose API shapes are served
	// (CoreVersions); default DefaultCoreVersion.
	CoreVersion string `yaml:"core_version"`
	// TrustedProxyCIDRs are the peers whose X-Forwarded-* headers a
	// 2026.8+ core honours (AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS); unset:
	// the core's default, the private and loopback ranges.
	TrustedProxyCIDRs []string `yaml:"trusted_proxy_cidrs"`
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

	// Filled by applyDefaults; a prepared Config is never changed again.
	prepared bool
	// baseDir resolves relative cert_file/key_file paths.
	baseDir string
	// src is the parsed document, for the line numbers of validation errors.
	src *yaml.Node
	// release is what CoreVersion serves.
	release coreRelease
	// trusted is TrustedProxyCIDRs, parsed.
	trusted []netip.Prefix
	// Lookups by name/uuid into the slices above.
	providerIdx map[string]int
	certNameIdx map[string]int
	certUUIDIdx map[string]int
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
	// SigningKey names an entry of Config.Certificates whose private key
	// signs the tokens (RS256 or ES256, published in the JWKS), as for
	// authentik's OAuth2 provider; empty: HS256 with the client secret, as
	// for a proxy provider. Standalone outposts need one.
	SigningKey string `yaml:"signing_key"`
	// RedirectURIs, when set, are the only redirect URIs accepted (byte for
	// byte), as an OAuth2 provider registers them; empty: the two of a
	// proxy provider (registeredRedirectURIs).
	RedirectURIs []string `yaml:"redirect_uris"`
}

// CertificateConfig is a TLS keypair. With CertFile/KeyFile empty a
// self-signed certificate for the names in Hosts is generated at load.
type CertificateConfig struct {
	UUID     string   `yaml:"uuid"` // default: derived from Name, stable across reloads
	Name     string   `yaml:"name"`
	CertFile string   `yaml:"cert_file"`
	KeyFile  string   `yaml:"key_file"`
	Hosts    []string `yaml:"hosts"` // default: the hosts of the providers using it
	// KeyType of a generated certificate: ec (P-256, the default) or rsa
	// (2048 bits, for RS256 signing keys).
	KeyType string `yaml:"key_type"`

	material certMaterial // loaded or generated by applyDefaults
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
	// ACR lists the authentication levels (acr values) this user's
	// sign-ins at the form reach besides the default one: a client that
	// asks for one of them in acr_values gets it reported (docs/devcore.md,
	// "Step-up"). The devcore has no second factor; this stands in for one.
	ACR []string `yaml:"acr"`
}

// GroupConfig is a group; its attributes are merged under the user's.
type GroupConfig struct {
	Name       string         `yaml:"name"`
	Attributes map[string]any `yaml:"attributes"`
}

// Defaults, as authentik's proxy provider and outpost models have them.
var (
	defaultProviderScopes   = []string{"openid", "email", "profile", "entitlements", "ak_proxy"}
	defaultTokenValidity    = 86400.0 // hours=24
	defaultRefreshIntervalS = 300     // minutes=5
)

// certNamespace derives a certificate's default UUID from its name, so that
// the UUID (and the outposts' view of it) survives reloads.
var certNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://outpost.dev/devcore/certificate"))

// slugPattern is authentik's slug rule; the slug appears in OIDC URLs.
var slugPattern = regexp.MustCompile(`^[-a-zA-Z0-9_]+$`)

// LoadConfig reads and checks a devcore YAML file. Relative cert_file and
// key_file paths are resolved against the file's directory.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := parseConfig(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a devcore YAML document, rejecting unknown fields, and
// fills defaults. Errors name the line or the field at fault. Relative
// certificate paths are resolved against the working directory.
func ParseConfig(b []byte) (*Config, error) { return parseConfig(b, "") }

func parseConfig(b []byte, baseDir string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("empty configuration")
		}
		return nil, err
	}
	// A second document is almost always a paste mistake; refusing it beats
	// silently ignoring half the file.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("line %d: only one YAML document is allowed", extra.Line)
	}
	// The node tree gives validation errors their line; it decodes whenever
	// the typed decode did.
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err == nil {
		c.src = &root
	}
	c.baseDir = baseDir
	if err := c.applyDefaults(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ConfigError is a validation error naming the field at fault and, when the
// configuration came from YAML, its line.
type ConfigError struct {
	Line  int
	Field string // e.g. `providers[2] ("grafana"): external_host`
	Msg   string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

// fieldErr builds a ConfigError for the value at path (keys and list
// indexes from the document root), naming it by label.
func (c *Config) fieldErr(label string, path []any, format string, args ...any) error {
	return &ConfigError{Line: yamlLine(c.src, path...), Field: label, Msg: fmt.Sprintf(format, args...)}
}

// yamlLine is the line of the deepest node found along path (string keys,
// int indexes), or 0 without a document.
func yamlLine(root *yaml.Node, path ...any) int {
	if n := yamlNode(root, path...); n != nil {
		return n.Line
	}
	return 0
}

// yamlNode is the deepest node found along path below the document's root
// node, or nil without a document or when not even the first step is found.
func yamlNode(root *yaml.Node, path ...any) *yaml.Node {
	if root == nil {
		return nil
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	var found *yaml.Node
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			break
		}
		n, found = next, next
	}
	return found
}

// applyDefaults fills defaults and checks references between sections. It is
// idempotent, so New can call it on a Config built in code.
func (c *Config) applyDefaults() error {
	if c.prepared {
		return nil
	}
	// Without outposts the devcore is only an OpenID Connect issuer (for
	// standalone outposts); with neither there is nothing to serve.
	if len(c.Outposts) == 0 && len(c.Providers) == 0 {
		return c.fieldErr("outposts", []any{"outposts"}, "at least one outpost or provider is required")
	}
	if err := c.checkCoreVersion(); err != nil {
		return err
	}
	if err := c.checkTrustedProxies(); err != nil {
		return err
	}
	if err := c.checkGroups(); err != nil {
		return err
	}
	if err := c.checkCertificateNames(); err != nil {
		return err
	}
	if err := c.checkProviders(); err != nil {
		return err
	}
	if err := c.checkOutposts(); err != nil {
		return err
	}
	if err := c.checkUsers(); err != nil {
		return err
	}
	if err := c.loadCertificates(); err != nil {
		return err
	}
	c.src = nil // only needed for errors; do not keep the tree alive
	c.prepared = true
	return nil
}

func (c *Config) checkGroups() error {
	seen := map[string]int{}
	for i := range c.Groups {
		g := &c.Groups[i]
		label := func(f string) string { return fmt.Sprintf("groups[%d].%s", i, f) }
		path := func(f string) []any { return []any{"groups", i, f} }
		if g.Name == "" {
			return c.fieldErr(label("name"), path("name"), "must be set")
		}
		if j, dup := seen[g.Name]; dup {
			return c.fieldErr(label("name"), path("name"), "%q is also the name of groups[%d]", g.Name, j)
		}
		seen[g.Name] = i
		if err := jsonable(g.Attributes); err != nil {
			return c.fieldErr(label("attributes"), path("attributes"), "%v", err)
		}
	}
	return nil
}

func (c *Config) checkCertificateNames() error {
	c.certNameIdx = map[string]int{}
	c.certUUIDIdx = map[string]int{}
	for i := range c.Certificates {
		cc := &c.Certificates[i]
		label := func(f string) string { return fmt.Sprintf("certificates[%d].%s", i, f) }
		path := func(f string) []any { return []any{"certificates", i, f} }
		if cc.Name == "" {
			return c.fieldErr(label("name"), path("name"), "must be set")
		}
		if j, dup := c.certNameIdx[cc.Name]; dup {
			return c.fieldErr(label("name"), path("name"), "%q is also the name of certificates[%d]", cc.Name, j)
		}
		c.certNameIdx[cc.Name] = i
		if cc.UUID == "" {
			cc.UUID = uuid.NewSHA1(certNamespace, []byte(cc.Name)).String()
		} else {
			id, err := parseDashedUUID(cc.UUID)
			if err != nil {
				return c.fieldErr(label("uuid"), path("uuid"), "%v", err)
			}
			cc.UUID = id
		}
		if j, dup := c.certUUIDIdx[cc.UUID]; dup {
			return c.fieldErr(label("uuid"), path("uuid"), "%s is also the uuid of certificates[%d]", cc.UUID, j)
		}
		c.certUUIDIdx[cc.UUID] = i
		if cc.KeyFile != "" && cc.CertFile == "" {
			return c.fieldErr(label("key_file"), path("key_file"), "needs cert_file too")
		}
		if cc.CertFile != "" && len(cc.Hosts) > 0 {
			return c.fieldErr(label("hosts"), path("hosts"), "only for generated certificates; the hosts of cert_file are in the certificate")
		}
	}
	return nil
}

func (c *Config) checkProviders() error {
	c.providerIdx = map[string]int{}
	pks := map[int]int{}
	clientIDs := map[string]int{}
	slugs := map[string]int{}
	groups := map[string]bool{}
	for _, g := range c.Groups {
		groups[g.Name] = true
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		label := func(f string) string {
			if p.Name == "" {
				return fmt.Sprintf("providers[%d]: %s", i, f)
			}
			return fmt.Sprintf("providers[%d] (%q): %s", i, p.Name, f)
		}
		perr := func(f, format string, args ...any) error {
			return c.fieldErr(label(f), []any{"providers", i, f}, format, args...)
		}
		if p.Name == "" {
			return perr("name", "must be set")
		}
		if j, dup := c.providerIdx[p.Name]; dup {
			return perr("name", "%q is also the name of providers[%d]", p.Name, j)
		}
		c.providerIdx[p.Name] = i

		if p.PK == 0 {
			p.PK = i + 1
		}
		if p.PK < 0 {
			return perr("pk", "must be positive")
		}
		if j, dup := pks[p.PK]; dup {
			return perr("pk", "%d is also the pk of providers[%d] (a provider without pk gets its position, from 1)", p.PK, j)
		}
		pks[p.PK] = i

		switch p.Mode {
		case "":
			p.Mode = outpostapi.ModeProxy
		case outpostapi.ModeProxy, outpostapi.ModeForwardSingle, outpostapi.ModeForwardDomain:
		default:
			return perr("mode", "%q: want proxy, forward_single or forward_domain", p.Mode)
		}
		if p.ExternalHost == "" {
			return perr("external_host", "must be set")
		}
		if err := checkHTTPURL(p.ExternalHost); err != nil {
			return perr("external_host", "%v", err)
		}
		if p.InternalHost == "" && p.Mode == outpostapi.ModeProxy {
			return perr("internal_host", "must be set in proxy mode")
		}
		if p.InternalHost != "" {
			if err := checkHTTPURL(p.InternalHost); err != nil {
				return perr("internal_host", "%v", err)
			}
		}
		for _, f := range []struct{ name, v string }{
			{"client_id", p.ClientID}, {"client_secret", p.ClientSecret}, {"cookie_secret", p.CookieSecret},
		} {
			if f.v == "" {
				return perr(f.name, "must be set")
			}
		}
		// HS256 needs a 32-byte key (RFC 7518 §3.2; go-jose enforces it):
		// a shorter secret could not sign a single token. authentik
		// generates 128 characters.
		if len(p.ClientSecret) < 32 && p.SigningKey == "" {
			return perr("client_secret", "must be at least 32 characters (HS256 needs a 32-byte key)")
		}
		// The outpost refuses shorter cookie secrets.
		if len(p.CookieSecret) < 16 {
			return perr("cookie_secret", "must be at least 16 characters")
		}
		if err := c.checkSkipPathRegex(i, label("skip_path_regex")); err != nil {
			return err
		}
		if j, dup := clientIDs[p.ClientID]; dup {
			return perr("client_id", "%q is also the client_id of providers[%d]", p.ClientID, j)
		}
		clientIDs[p.ClientID] = i

		if p.InternalHostSSLValidation == nil {
			yes := true
			p.InternalHostSSLValidation = &yes
		}
		if p.InterceptHeaderAuth == nil {
			yes := true
			p.InterceptHeaderAuth = &yes
		}
		if p.AccessTokenValidity == nil {
			v := defaultTokenValidity
			p.AccessTokenValidity = &v
		}
		if v := *p.AccessTokenValidity; v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return perr("access_token_validity", "must be a number of seconds >= 0")
		}
		if p.ScopesToRequest == nil {
			p.ScopesToRequest = append([]string(nil), defaultProviderScopes...)
		}
		if p.Certificate != "" {
			if _, ok := c.certNameIdx[p.Certificate]; !ok {
				return perr("certificate", "unknown certificate %q", p.Certificate)
			}
		}
		if p.SigningKey != "" {
			if _, ok := c.certNameIdx[p.SigningKey]; !ok {
				return perr("signing_key", "unknown certificate %q", p.SigningKey)
			}
		}
		for j, u := range p.RedirectURIs {
			if err := checkHTTPURL(u); err != nil {
				return c.fieldErr(label(fmt.Sprintf("redirect_uris[%d]", j)), []any{"providers", i, "redirect_uris", j}, "%v", err)
			}
		}
		if p.ApplicationSlug == "" {
			p.ApplicationSlug = p.Name
			if !slugPattern.MatchString(p.ApplicationSlug) {
				return perr("application_slug", "the name is not a valid slug (letters, digits, - and _); set application_slug")
			}
		} else if !slugPattern.MatchString(p.ApplicationSlug) {
			return perr("application_slug", "%q: only letters, digits, - and _", p.ApplicationSlug)
		}
		if j, dup := slugs[p.ApplicationSlug]; dup {
			return perr("application_slug", "%q is also the application of providers[%d]", p.ApplicationSlug, j)
		}
		slugs[p.ApplicationSlug] = i
		if p.ApplicationName == "" {
			p.ApplicationName = p.Name
		}
		for _, g := range p.AllowedGroups {
			if !groups[g] {
				return perr("allowed_groups", "unknown group %q", g)
			}
		}
	}
	return nil
}

func (c *Config) checkOutposts() error {
	pks := map[string]int{}
	names := map[string]int{}
	tokens := map[string]int{}
	for i := range c.Outposts {
		o := &c.Outposts[i]
		label := func(f string) string { return fmt.Sprintf("outposts[%d].%s", i, f) }
		oerr := func(f, format string, args ...any) error {
			return c.fieldErr(label(f), []any{"outposts", i, f}, format, args...)
		}
		if o.Name == "" {
			return oerr("name", "must be set")
		}
		if j, dup := names[o.Name]; dup {
			return oerr("name", "%q is also the name of outposts[%d]", o.Name, j)
		}
		names[o.Name] = i
		if o.PK == "" {
			return oerr("pk", "must be set (a dashed UUID)")
		}
		id, err := parseDashedUUID(o.PK)
		if err != nil {
			return oerr("pk", "%v", err)
		}
		o.PK = id
		if j, dup := pks[o.PK]; dup {
			return oerr("pk", "%s is also the pk of outposts[%d]", o.PK, j)
		}
		pks[o.PK] = i
		if o.Token == "" {
			return oerr("token", "must be set")
		}
		if j, dup := tokens[o.Token]; dup {
			return oerr("token", "same token as outposts[%d]; a token identifies one outpost", j)
		}
		tokens[o.Token] = i
		if o.RefreshIntervalS < 0 {
			return oerr("refresh_interval_s", "must be >= 0")
		}
		if o.RefreshIntervalS == 0 {
			o.RefreshIntervalS = defaultRefreshIntervalS
		}
		if o.Config == nil {
			o.Config = map[string]any{}
		}
		if err := jsonable(o.Config); err != nil {
			return oerr("config", "%v", err)
		}
		fillOutpostConfigDefaults(o.Config, o.RefreshIntervalS)
		seen := map[string]bool{}
		for _, name := range o.Providers {
			if _, ok := c.providerIdx[name]; !ok {
				return oerr("providers", "unknown provider %q", name)
			}
			if seen[name] {
				return oerr("providers", "provider %q is listed twice", name)
			}
			seen[name] = true
		}
	}
	return nil
}

// fillOutpostConfigDefaults adds the keys authentik's outpost config always
// carries, leaving the ones the file sets.
func fillOutpostConfigDefaults(m map[string]any, refreshS int) {
	refresh := fmt.Sprintf("seconds=%d", refreshS)
	if refreshS%60 == 0 {
		refresh = fmt.Sprintf("minutes=%d", refreshS/60)
	}
	for k, v := range map[string]any{
		"authentik_host":          "",
		"authentik_host_insecure": false,
		"authentik_host_browser":  "",
		"log_level":               "info",
		"object_naming_template":  "ak-outpost-%(name)s",
		"refresh_interval":        refresh,
	} {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
}

func (c *Config) checkUsers() error {
	groups := map[string]bool{}
	for _, g := range c.Groups {
		groups[g.Name] = true
	}
	seen := map[string]int{}
	for i := range c.Users {
		u := &c.Users[i]
		label := func(f string) string { return fmt.Sprintf("users[%d].%s", i, f) }
		path := func(f string) []any { return []any{"users", i, f} }
		if u.Username == "" {
			return c.fieldErr(label("username"), path("username"), "must be set")
		}
		if j, dup := seen[u.Username]; dup {
			return c.fieldErr(label("username"), path("username"), "%q is also the username of users[%d]", u.Username, j)
		}
		seen[u.Username] = i
		if u.PasswordHash == "" {
			return c.fieldErr(label("password_hash"), path("password_hash"), "must be set (a bcrypt hash; make one with: outpost hash-password)")
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			return c.fieldErr(label("password_hash"), path("password_hash"), "not a bcrypt hash; plain passwords are refused (make one with: outpost hash-password)")
		}
		for j, h := range u.AppPasswords {
			if _, err := bcrypt.Cost([]byte(h)); err != nil {
				return c.fieldErr(fmt.Sprintf("users[%d].app_passwords[%d]", i, j), []any{"users", i, "app_passwords", j},
					"not a bcrypt hash; plain passwords are refused (make one with: outpost hash-password)")
			}
		}
		for _, g := range u.Groups {
			if !groups[g] {
				return c.fieldErr(label("groups"), path("groups"), "unknown group %q", g)
			}
		}
		if err := jsonable(u.Attributes); err != nil {
			return c.fieldErr(label("attributes"), path("attributes"), "%v", err)
		}
	}
	return nil
}

// parseDashedUUID accepts only the 36-character dashed form (the one the
// websocket path and the API use) and returns it in lower case.
func parseDashedUUID(s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", fmt.Errorf("%q is not a dashed UUID (like 23470845-7263-4fe3-bd79-ec1d7bf77d77)", s)
	}
	return id.String(), nil
}

// checkHTTPURL accepts absolute http(s) URLs with a host, as authentik's URL
// fields do.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// jsonable reports whether v can be sent in an API response: YAML allows
// things JSON does not (non-string keys, NaN), and a response that fails to
// encode would reach the outpost as a truncated body.
func jsonable(v any) error {
	if _, err := json.Marshal(v); err != nil {
		return fmt.Errorf("cannot be sent as JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}
