package outpostapi

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/authz"
	"go.yaml.in/yaml/v3"
)

// StaticFile is the standalone configuration: the provider fields of the core
// contract, read from YAML, plus what a core would otherwise supply (the
// issuer for OIDC discovery, secrets from files). docs/standalone.md
// documents it.
type StaticFile struct {
	Outpost   StaticOutpost    `yaml:"outpost"`
	Providers []StaticProvider `yaml:"providers"`
}

// StaticOutpost names the outpost (metrics labels, X-authentik-meta-outpost).
type StaticOutpost struct {
	Name     string `yaml:"name"`
	LogLevel string `yaml:"log_level"`
}

// StaticProvider is one provider of a StaticFile.
type StaticProvider struct {
	ProxyOutpostConfig `yaml:",inline"`
	// Issuer is the OpenID Connect issuer; its discovery document supplies
	// the endpoints a core would have sent in oidc_configuration.
	Issuer           string `yaml:"issuer"`
	ClientSecretFile string `yaml:"client_secret_file"`
	CookieSecretFile string `yaml:"cookie_secret_file"`
	// TLS is the certificate served on the HTTPS listener for this
	// provider's external host (what certificate is for a core provider).
	TLS *StaticTLS `yaml:"tls"`
	// AllowedUpgrades are the protocols a client may upgrade to through
	// this provider (proxy mode); unset: OUTPOST_PROXY__ALLOWED_UPGRADES,
	// [] allows none.
	AllowedUpgrades []string `yaml:"allowed_upgrades"`
	// SessionLifetime ("720h") bounds how long a session is kept alive by
	// refreshing its tokens; unset: the refresh token's own validity, at
	// most 30 days.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// ResponseHeaderTimeout is how long this provider's upstream may take
	// to start answering before a 504; unset:
	// OUTPOST_PROXY__RESPONSE_HEADER_TIMEOUT.
	ResponseHeaderTimeout *UpstreamTimeout `yaml:"response_header_timeout"`
	// Assertion is the signed identity assertion for the app
	// (docs/identity-assertion.md); unset: OUTPOST_ASSERTION__*.
	Assertion *StaticAssertion `yaml:"assertion"`
	// ProtectedResourceMetadata turns this provider's OAuth protected
	// resource metadata (RFC 9728) on or off; unset:
	// OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA.
	ProtectedResourceMetadata *bool `yaml:"protected_resource_metadata"`
	// Authorization rules: who may pass once signed in (no core decides
	// that in standalone mode).
	authz.Config `yaml:",inline"`

	// RedirectURI overrides the redirect URI sent to the issuer (default:
	// <external_host>/outpost.goauthentik.io/callback, redirecturi.go).
	RedirectURI string `yaml:"redirect_uri"`
}

// StaticTLS names a provider's PEM certificate chain and private key.
type StaticTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Defaults for standalone providers, where no core fills them in.
var (
	defaultStaticScopes   = []string{"openid", "profile", "email"}
	defaultStaticValidity = 86400.0 // seconds, authentik's default (hours=24)
)

// LoadStaticFile reads and validates a standalone configuration file.
func LoadStaticFile(path string) (*Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	snap, err := ParseStatic(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	snap.Source = path
	return snap, nil
}

// ParseStatic turns a standalone YAML document into a Snapshot. Unlike a
// core's provider list, a file is all or nothing: any error rejects the whole
// document, so an edit that breaks one provider never silently drops it.
// Errors name the line and the field. Relative secret file paths are resolved
// against baseDir.
func ParseStatic(b []byte, baseDir string) (*Snapshot, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f StaticFile
	if err := dec.Decode(&f); err != nil {
		return nil, explainDecodeError(b, err)
	}
	// A second decode into nodes gives each provider's field lines for the
	// validation errors below; it cannot fail where the first one succeeded.
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	lines := providerFieldLines(&root)

	if len(f.Providers) == 0 {
		return nil, errors.New("providers: at least one provider is required")
	}
	snap := &Snapshot{
		Outpost: OutpostInfo{
			Name:     f.Outpost.Name,
			Type:     "proxy",
			LogLevel: f.Outpost.LogLevel,
		},
		Certificates: map[string]Certificate{},
		LoadedAt:     time.Now(),
	}
	if snap.Outpost.Name == "" {
		snap.Outpost.Name = "standalone"
	}
	if err := checkLogLevel(f.Outpost.LogLevel); err != nil {
		return nil, fmt.Errorf("line %d: outpost.log_level: %v", lineOf(&root, "outpost", "log_level"), err)
	}
	names := map[string]int{}
	hosts := map[string]string{}
	clients := map[string]Provider{}
	for i, sp := range f.Providers {
		line := func(field string) int {
			if i < len(lines) {
				if l, ok := lines[i][field]; ok {
					return l
				}
				return lines[i][""]
			}
			return 0
		}
		perr := func(field string, err error) error {
			name := sp.Name
			if name == "" {
				name = fmt.Sprintf("#%d", i+1)
			}
			return ProviderError{Provider: name, Field: field, Line: line(field), Err: err.Error()}
		}
		c := sp.ProxyOutpostConfig
		if c.PK == 0 {
			c.PK = i + 1
		}
		if c.Mode == "" {
			c.Mode = ModeProxy
		}
		if c.ScopesToRequest == nil {
			c.ScopesToRequest = append([]string(nil), defaultStaticScopes...)
		}
		if c.AccessTokenValidity == nil {
			v := defaultStaticValidity
			c.AccessTokenValidity = &v
		}
		if i < len(lines) {
			// authentik's default: the outpost reads Authorization.
			if _, set := lines[i]["intercept_header_auth"]; !set {
				c.InterceptHeaderAuth = true
			}
		}
		if c.AssignedApplicationSlug == "" {
			c.AssignedApplicationSlug = c.Name
		}
		if c.AssignedApplicationName == "" {
			c.AssignedApplicationName = c.Name
		}
		var err error
		if c.ClientSecret, err = secretFrom(c.ClientSecret, sp.ClientSecretFile, baseDir); err != nil {
			return nil, perr("client_secret_file", err)
		}
		if c.CookieSecret, err = secretFrom(c.CookieSecret, sp.CookieSecretFile, baseDir); err != nil {
			return nil, perr("cookie_secret_file", err)
		}
		if sp.Issuer == "" {
			return nil, perr("issuer", errors.New("must be set: standalone providers discover their endpoints from the issuer"))
		}
		if c.ClientSecret == "" {
			return nil, perr("client_secret", errors.New("must be set (or client_secret_file)"))
		}
		if len(c.CookieSecret) < 16 {
			return nil, perr("cookie_secret", errors.New("must be at least 16 characters (or cookie_secret_file); generate one with: openssl rand -base64 32"))
		}
		p, verr := ValidateProvider(c, sp.Issuer)
		if verr != nil {
			return nil, perr(verr.Field, errors.New(verr.Err))
		}
		if err := SetStandaloneRedirectURI(&p, sp.RedirectURI); err != nil {
			return nil, perr("redirect_uri", err)
		}
		if sp.TLS != nil {
			cert, field, err := loadStaticTLS(*sp.TLS, p, baseDir)
			if err != nil {
				terr := perr("tls."+field, err).(ProviderError)
				if l := lineOf(&root, "providers", i, "tls", field); l > 0 {
					terr.Line = l
				} else if l := lineOf(&root, "providers", i, "tls"); l > 0 {
					terr.Line = l
				}
				return nil, terr
			}
			id := "file:" + p.Name
			cert.UUID = id
			p.Certificate = &id
			snap.Certificates[id] = cert
		}
		policy, cerr := authz.Compile(sp.Config)
		if cerr != nil {
			// Like every other error: the whole file is refused. Serving the
			// rest would hand this provider's host to nobody, or, with one
			// provider left, to the single-provider fallback.
			var ae *authz.Error
			field, msg := cerr.Error(), cerr.Error()
			if errors.As(cerr, &ae) {
				field, msg = ae.Field, ae.Err
			}
			return nil, ProviderError{Provider: p.Name, Field: field, Line: ruleLine(&root, i, field), Err: msg}
		}
		p.Policy = policy
		if sp.ResponseHeaderTimeout != nil {
			p.ResponseHeaderTimeout = time.Duration(*sp.ResponseHeaderTimeout)
		}
		if i < len(lines) {
			if _, set := lines[i]["allowed_upgrades"]; set {
				p.AllowedUpgrades = []string{}
				for j, up := range sp.AllowedUpgrades {
					if err := CheckUpgradeProtocol(strings.TrimSpace(up)); err != nil {
						uerr := perr("allowed_upgrades", err).(ProviderError)
						if l := lineOf(&root, "providers", i, "allowed_upgrades", j); l > 0 {
							uerr.Line = l
						}
						return nil, uerr
					}
					p.AllowedUpgrades = append(p.AllowedUpgrades, strings.TrimSpace(up))
				}
			}
		}
		if sp.Assertion != nil {
			set, field, err := sp.Assertion.settings()
			if err != nil {
				aerr := perr("assertion."+field, err).(ProviderError)
				if l := lineOf(&root, "providers", i, "assertion", field); l > 0 {
					aerr.Line = l
				}
				return nil, aerr
			}
			p.Assertion = &set
		}
		if sp.SessionLifetime < 0 {
			return nil, perr("session_lifetime", errors.New("must not be negative"))
		}
		p.SessionLifetime = sp.SessionLifetime
		p.ProtectedResourceMetadata = sp.ProtectedResourceMetadata
		if j, dup := names[p.Name]; dup {
			return nil, perr("name", fmt.Errorf("%q is also the name of provider #%d", p.Name, j+1))
		}
		names[p.Name] = i
		if other, dup := hosts[p.ExternalURL.Host]; dup {
			return nil, perr("external_host", fmt.Errorf("host %q is already served by provider %q", p.ExternalURL.Host, other))
		}
		hosts[p.ExternalURL.Host] = p.Name
		// Sessions are bound to a provider by client_id: the same id at
		// another issuer would let that issuer's sessions in here.
		if other, dup := clients[p.ClientID]; dup && strings.TrimSuffix(other.Issuer, "/") != strings.TrimSuffix(p.Issuer, "/") {
			return nil, perr("client_id", fmt.Errorf("%q is also the client_id of provider %q at another issuer (%s): sessions are bound to the client_id, so give each issuer's client its own", p.ClientID, other.Name, other.Issuer))
		}
		clients[p.ClientID] = p
		snap.Providers = append(snap.Providers, p)
	}
	return snap, nil
}

// secretFrom returns the inline value, or the trimmed content of file. Both
// at once is ambiguous and refused.
func secretFrom(inline, file, baseDir string) (string, error) {
	if file == "" {
		return inline, nil
	}
	if inline != "" {
		return "", errors.New("set either the secret or its _file, not both")
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(baseDir, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return s, nil
}

func checkLogLevel(l string) error {
	switch strings.ToLower(l) {
	case "", "trace", "debug", "info", "warning", "warn", "error":
		return nil
	}
	return fmt.Errorf("unknown level %q (want trace, debug, info, warning or error)", l)
}
