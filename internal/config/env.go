// Package config reads the outpost's environment (docs/configuration.md)
// once, at start-up, into the option structs of the packages that take it:
// outpostapi.CoreEndpoint for the core, proxy.Options for the data plane,
// and the listeners', logs' and sessions' settings the binary applies.
// Each setting has one name, the one its package uses, and one default,
// the one its package defines where it has one.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/tracing"
)

// Env is the outpost's configuration from the environment (spec §1.2).
type Env struct {
	// Core is AUTHENTIK_HOST, AUTHENTIK_TOKEN and AUTHENTIK_INSECURE; Host
	// is nil when unset (standalone mode).
	Core outpostapi.CoreEndpoint
	// Proxy are the data plane's settings. The caller adds what is not
	// configuration: Log, Store, Version, Events and Metrics.
	Proxy proxy.Options
	// Listen are the listeners and what one client may take from them.
	Listen Listen
	Log    Log
	// Sessions says where sessions are kept (memory unless Redis is set).
	Sessions Sessions
	// Tracing says whether and how traces are exported (OTEL_*).
	Tracing tracing.Settings
}

// Listen are the listeners' addresses and limits.
type Listen struct {
	// HTTP, HTTPS and Metrics are every address of each listener: one, or
	// the newer comma-list form (spec §19).
	HTTP, HTTPS, Metrics []string
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request headers (slowloris).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections that stay unused.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers, cookies included.
	MaxHeaderBytes int
	// MaxConnsPerClient caps the open connections of one client IP (per
	// /64 for IPv6) over all listeners; trusted proxy peers are not capped.
	MaxConnsPerClient int
	// BodyIdleTimeout is how long a request body may go without a byte
	// arriving; an upload that keeps making progress is never cut.
	BodyIdleTimeout time.Duration
}

// Log says how the outpost logs.
type Log struct {
	// Level is lower case, one of trace, debug, info, warning, warn, error.
	Level string
	// Format is AUTHENTIK_LOG__FORMAT: "" (JSON, text on a terminal or
	// with Debug), "json", "text" or "authentik" (authentik's keys).
	Format string
	Debug  bool
}

// Defaults of the settings no package defines (spec §1.2). There is
// deliberately no read or write timeout on whole requests: uploads,
// streams and websockets must not be cut.
const (
	DefaultListenHTTP     = "0.0.0.0:9000"
	DefaultListenHTTPS    = "0.0.0.0:9443"
	DefaultListenMetrics  = "0.0.0.0:9300"
	DefaultTrustedCIDRs   = "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fe80::/10,::1/128"
	DefaultMaxHeaderBytes = 64 << 10
)

// Log formats of AUTHENTIK_LOG__FORMAT. authentik's are the key names
// authentik's own logs use (event, level, logger, timestamp), for log
// pipelines built for them.
const (
	LogFormatJSON      = "json"
	LogFormatText      = "text"
	LogFormatAuthentik = "authentik"
)

// EnvError is a missing or malformed environment variable. It names the
// variable and the problem, never a secret's value.
type EnvError struct {
	Var string
	Msg string
}

func (e *EnvError) Error() string { return e.Var + ": " + e.Msg }

// String redacts the token and the Redis password, so an Env printed by
// mistake leaks nothing.
func (e Env) String() string {
	host, browser := "", ""
	if e.Core.Host != nil {
		host = e.Core.Host.String()
	}
	if e.Proxy.BrowserURL != nil {
		browser = e.Proxy.BrowserURL.String()
	}
	tok := ""
	if e.Core.Token != "" {
		tok = "[redacted]"
	}
	return fmt.Sprintf("Env{Host:%q Token:%s Insecure:%t HostBrowser:%q HTTP:%v HTTPS:%v Metrics:%v TrustedProxyCIDRs:%v LogLevel:%s Debug:%t Sessions:%s}",
		host, tok, e.Core.Insecure, browser, e.Listen.HTTP, e.Listen.HTTPS, e.Listen.Metrics, e.Proxy.TrustedProxies, e.Log.Level, e.Log.Debug, e.Sessions)
}

// GoString redacts under %#v too.
func (e Env) GoString() string { return e.String() }

// Load reads the outpost's environment through lookup (os.LookupEnv in
// production). With needCore, AUTHENTIK_HOST and AUTHENTIK_TOKEN are
// required. Every problem found is reported, each naming its variable.
func Load(lookup func(string) (string, bool), needCore bool) (Env, error) {
	var (
		env  Env
		errs []error
	)
	fail := func(name, format string, args ...any) {
		errs = append(errs, &EnvError{Var: name, Msg: fmt.Sprintf(format, args...)})
	}
	// get resolves env:// and file:// and trims; "" means unset.
	get := func(name string) (string, bool) {
		raw, ok := lookup(name)
		if !ok {
			return "", false
		}
		v, err := ResolveEnvValue(raw, lookup)
		if err != nil {
			fail(name, "%v", err)
			return "", false
		}
		v = strings.TrimSpace(v)
		return v, v != ""
	}

	if v, ok := get("AUTHENTIK_HOST"); ok {
		u, err := parseCoreURL(v, true)
		if err != nil {
			fail("AUTHENTIK_HOST", "%v", err)
		}
		env.Core.Host = u
	} else if needCore {
		fail("AUTHENTIK_HOST", "is required: the core's base URL, e.g. https://authentik.example.com")
	}

	if v, ok := get("AUTHENTIK_TOKEN"); ok {
		// Control characters would break the Authorization header; the
		// message must not echo the value.
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			fail("AUTHENTIK_TOKEN", "contains control characters (value not shown)")
		} else {
			env.Core.Token = v
		}
	} else if needCore {
		fail("AUTHENTIK_TOKEN", "is required: the outpost's API token")
	}

	if v, ok := get("AUTHENTIK_INSECURE"); ok {
		b, err := ParseEnvBool(v)
		if err != nil {
			fail("AUTHENTIK_INSECURE", "%v", err)
		}
		// The data plane talks to the core too (OIDC endpoints, JWKS).
		env.Core.Insecure, env.Proxy.Insecure = b, b
	}

	if v, ok := get("AUTHENTIK_HOST_BROWSER"); ok {
		u, err := parseCoreURL(v, false)
		if err != nil {
			fail("AUTHENTIK_HOST_BROWSER", "%v", err)
		}
		env.Proxy.BrowserURL = u
	}

	listen := func(name, def string) []string {
		v, ok := get(name)
		if !ok {
			v = def
		}
		addrs, err := ParseListenAddrs(v)
		if err != nil {
			fail(name, "%v", err)
			return nil
		}
		return addrs
	}
	env.Listen.HTTP = listen("AUTHENTIK_LISTEN__HTTP", DefaultListenHTTP)
	env.Listen.HTTPS = listen("AUTHENTIK_LISTEN__HTTPS", DefaultListenHTTPS)
	env.Listen.Metrics = listen("AUTHENTIK_LISTEN__METRICS", DefaultListenMetrics)

	cidrs, ok := get("AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS")
	if !ok {
		cidrs = DefaultTrustedCIDRs
	}
	prefixes, err := ParsePrefixList(cidrs)
	if err != nil {
		fail("AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS", "%v", err)
	}
	env.Proxy.TrustedProxies = prefixes

	env.Log.Level = "info"
	if v, ok := get("AUTHENTIK_LOG_LEVEL"); ok {
		l := strings.ToLower(v)
		switch l {
		case "trace", "debug", "info", "warning", "warn", "error":
			env.Log.Level = l
		default:
			fail("AUTHENTIK_LOG_LEVEL", "unknown level %q (want trace, debug, info, warning or error)", v)
		}
	}

	if v, ok := get("AUTHENTIK_LOG__FORMAT"); ok {
		f := strings.ToLower(v)
		switch f {
		case LogFormatJSON, LogFormatText, LogFormatAuthentik:
			env.Log.Format = f
		default:
			fail("AUTHENTIK_LOG__FORMAT", "unknown format %q (want json, text or authentik)", v)
		}
	}

	if v, ok := get("AUTHENTIK_DEBUG"); ok {
		b, err := ParseEnvBool(v)
		if err != nil {
			fail("AUTHENTIK_DEBUG", "%v", err)
		}
		env.Log.Debug = b
	}

	env.Listen.ReadHeaderTimeout = proxy.DefaultReadHeaderTimeout
	env.Listen.IdleTimeout = proxy.DefaultIdleTimeout
	env.Listen.MaxHeaderBytes = DefaultMaxHeaderBytes
	env.Listen.MaxConnsPerClient = proxy.DefaultMaxConnsPerClient
	env.Listen.BodyIdleTimeout = proxy.DefaultBodyIdleTimeout
	env.Proxy.MaxWebsocketsPerClient = proxy.DefaultMaxWebsocketsPerClient
	env.Proxy.CredentialFailuresPerMinute = proxy.DefaultCredentialFailuresPerMinute
	env.Proxy.CredentialCacheTTL = proxy.MaxCredentialCacheTTL
	env.Proxy.BackchannelLogoutsPerMinute = proxy.DefaultBackchannelLogoutsPerMinute
	env.Proxy.ResponseHeaderTimeout = outpostapi.DefaultResponseHeaderTimeout
	duration := func(name string, into *time.Duration) {
		if v, ok := get(name); ok {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				fail(name, "want a positive duration such as 5s or 2m, got %q", v)
				return
			}
			*into = d
		}
	}
	count := func(name string, into *int, min int) {
		if v, ok := get(name); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < min {
				fail(name, "want a whole number of at least %d, got %q", min, v)
				return
			}
			*into = n
		}
	}
	duration("AUTHENTIK_WEB__TIMEOUT_HTTP_READ_HEADER", &env.Listen.ReadHeaderTimeout)
	duration("AUTHENTIK_WEB__TIMEOUT_HTTP_IDLE", &env.Listen.IdleTimeout)
	count("OUTPOST_LISTEN__MAX_HEADER_BYTES", &env.Listen.MaxHeaderBytes, 4096)
	count("OUTPOST_LISTEN__MAX_WEBSOCKETS_PER_CLIENT", &env.Proxy.MaxWebsocketsPerClient, 1)
	count("OUTPOST_LISTEN__MAX_CONNS_PER_CLIENT", &env.Listen.MaxConnsPerClient, 1)
	duration("OUTPOST_LISTEN__BODY_IDLE_TIMEOUT", &env.Listen.BodyIdleTimeout)
	count("OUTPOST_AUTH__FAILED_CREDENTIALS_PER_MINUTE", &env.Proxy.CredentialFailuresPerMinute, 1)
	duration("OUTPOST_AUTH__CREDENTIAL_CACHE_TTL", &env.Proxy.CredentialCacheTTL)
	duration("OUTPOST_PROXY__RESPONSE_HEADER_TIMEOUT", &env.Proxy.ResponseHeaderTimeout)
	count("OUTPOST_AUTH__BACKCHANNEL_LOGOUTS_PER_MINUTE", &env.Proxy.BackchannelLogoutsPerMinute, 1)
	if env.Proxy.CredentialCacheTTL > proxy.MaxCredentialCacheTTL {
		fail("OUTPOST_AUTH__CREDENTIAL_CACHE_TTL", "at most %s: a revoked token must stop working within it, got %s", proxy.MaxCredentialCacheTTL, env.Proxy.CredentialCacheTTL)
	}

	if v, ok := get("OUTPOST_AUTH__ADDITIONAL_HEADERS"); ok {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			if err := proxy.CheckAdditionalHeaderName(name); err != nil {
				fail("OUTPOST_AUTH__ADDITIONAL_HEADERS", "%v", err)
			}
			env.Proxy.AdditionalHeaders = append(env.Proxy.AdditionalHeaders, name)
		}
	}

	env.Proxy.AllowedUpgrades = outpostapi.DefaultAllowedUpgrades
	if v, ok := get("OUTPOST_PROXY__ALLOWED_UPGRADES"); ok {
		list, err := ParseUpgradeList(v)
		if err != nil {
			fail("OUTPOST_PROXY__ALLOWED_UPGRADES", "%v (or none)", err)
		}
		env.Proxy.AllowedUpgrades = list
	}

	if v, ok := get("OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA"); ok {
		b, err := ParseEnvBool(v)
		if err != nil {
			fail("OUTPOST_PROXY__PROTECTED_RESOURCE_METADATA", "%v", err)
		} else {
			env.Proxy.ProtectedResourceMetadata = &b
		}
	}

	env.Sessions = loadPostgres(loadSessions(get, fail), get, fail)
	env.Proxy.Assertion = loadAssertion(get, fail)
	env.Tracing = loadTracing(lookup, fail)

	if len(errs) > 0 {
		return Env{}, errors.Join(errs...)
	}
	return env, nil
}
