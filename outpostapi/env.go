package outpostapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env is the outpost's environment configuration (spec §1.2), resolved and
// parsed once at startup.
type Env struct {
	// Host is AUTHENTIK_HOST; its path always ends in "/" and its query is
	// kept for the websocket URL. Nil when unset (standalone mode).
	Host *url.URL
	// Token is AUTHENTIK_TOKEN. Never log it; Env's String and LogValue
	// redact it.
	Token    string
	Insecure bool
	// HostBrowser is AUTHENTIK_HOST_BROWSER, nil when unset.
	HostBrowser *url.URL

	// ListenHTTP, ListenHTTPS and ListenMetrics are the first address of
	// each listener list; the *All fields hold every address of the newer
	// comma-list form (spec §19).
	ListenHTTP       string
	ListenHTTPS      string
	ListenMetrics    string
	ListenHTTPAll    []string
	ListenHTTPSAll   []string
	ListenMetricsAll []string

	TrustedProxyCIDRs []netip.Prefix
	Limits            Limits
	// AdditionalHeaders (OUTPOST_AUTH__ADDITIONAL_HEADERS) are the header
	// names the core's additionalHeaders attributes set; the outpost
	// removes them from every client request.
	AdditionalHeaders []string
	// AllowedUpgrades (OUTPOST_PROXY__ALLOWED_UPGRADES) are the protocols a
	// proxy-mode client may upgrade to, for every provider that does not
	// set its own (standalone allowed_upgrades). Nil: DefaultAllowedUpgrades.
	AllowedUpgrades []string
	// LogLevel is lower case, one of trace, debug, info, warning, warn, error.
	LogLevel string
	// LogFormat is AUTHENTIK_LOG__FORMAT: "" (JSON, text on a terminal or
	// with Debug), "json", "text" or "authentik" (authentik's keys).
	LogFormat string
	Debug     bool
	// Sessions says where sessions are kept (memory unless Redis or
	// PostgreSQL is set).
	Sessions SessionEnv
}

// Env defaults (spec §1.2).
const (
	DefaultListenHTTP    = "0.0.0.0:9000"
	DefaultListenHTTPS   = "0.0.0.0:9443"
	DefaultListenMetrics = "0.0.0.0:9300"
	DefaultTrustedCIDRs  = "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fe80::/10,::1/128"
)

// Log formats of AUTHENTIK_LOG__FORMAT. authentik's are the key names
// authentik's own logs use (event, level, logger, timestamp), for log
// pipelines built for them.
const (
	LogFormatJSON      = "json"
	LogFormatText      = "text"
	LogFormatAuthentik = "authentik"
)

// maxEnvFileSize bounds file:// values: they hold a token or a URL, and a
// mistaken path to a huge file must not be read into memory.
const maxEnvFileSize = 1 << 20

// EnvError is a missing or malformed environment variable. It names the
// variable and the problem, never a secret's value.
type EnvError struct {
	Var string
	Msg string
}

func (e *EnvError) Error() string { return e.Var + ": " + e.Msg }

// String redacts the token, so an Env printed by mistake leaks nothing.
func (e Env) String() string {
	host, browser := "", ""
	if e.Host != nil {
		host = e.Host.String()
	}
	if e.HostBrowser != nil {
		browser = e.HostBrowser.String()
	}
	tok := ""
	if e.Token != "" {
		tok = "[redacted]"
	}
	return fmt.Sprintf("Env{Host:%q Token:%s Insecure:%t HostBrowser:%q HTTP:%v HTTPS:%v Metrics:%v TrustedProxyCIDRs:%v LogLevel:%s Debug:%t Sessions:%s}",
		host, tok, e.Insecure, browser, e.ListenHTTPAll, e.ListenHTTPSAll, e.ListenMetricsAll, e.TrustedProxyCIDRs, e.LogLevel, e.Debug, e.Sessions)
}

// GoString redacts the token under %#v too.
func (e Env) GoString() string { return e.String() }

// LoadEnv reads the outpost's environment through lookup (os.LookupEnv in
// production). With needCore, AUTHENTIK_HOST and AUTHENTIK_TOKEN are
// required. Every problem found is reported, each naming its variable.
func LoadEnv(lookup func(string) (string, bool), needCore bool) (Env, error) {
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
		env.Host = u
	} else if needCore {
		fail("AUTHENTIK_HOST", "is required: the core's base URL, e.g. https://authentik.example.com")
	}

	if v, ok := get("AUTHENTIK_TOKEN"); ok {
		// Control characters would break the Authorization header; the
		// message must not echo the value.
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			fail("AUTHENTIK_TOKEN", "contains control characters (value not shown)")
		} else {
			env.Token = v
		}
	} else if needCore {
		fail("AUTHENTIK_TOKEN", "is required: the outpost's API token")
	}

	if v, ok := get("AUTHENTIK_INSECURE"); ok {
		b, err := ParseEnvBool(v)
		if err != nil {
			fail("AUTHENTIK_INSECURE", "%v", err)
		}
		env.Insecure = b
	}

	if v, ok := get("AUTHENTIK_HOST_BROWSER"); ok {
		u, err := parseCoreURL(v, false)
		if err != nil {
			fail("AUTHENTIK_HOST_BROWSER", "%v", err)
		}
		env.HostBrowser = u
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
	env.ListenHTTPAll = listen("AUTHENTIK_LISTEN__HTTP", DefaultListenHTTP)
	env.ListenHTTPSAll = listen("AUTHENTIK_LISTEN__HTTPS", DefaultListenHTTPS)
	env.ListenMetricsAll = listen("AUTHENTIK_LISTEN__METRICS", DefaultListenMetrics)
	first := func(a []string) string {
		if len(a) == 0 {
			return ""
		}
		return a[0]
	}
	env.ListenHTTP, env.ListenHTTPS, env.ListenMetrics = first(env.ListenHTTPAll), first(env.ListenHTTPSAll), first(env.ListenMetricsAll)

	cidrs, ok := get("AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS")
	if !ok {
		cidrs = DefaultTrustedCIDRs
	}
	prefixes, err := ParsePrefixList(cidrs)
	if err != nil {
		fail("AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS", "%v", err)
	}
	env.TrustedProxyCIDRs = prefixes

	env.LogLevel = "info"
	if v, ok := get("AUTHENTIK_LOG_LEVEL"); ok {
		l := strings.ToLower(v)
		switch l {
		case "trace", "debug", "info", "warning", "warn", "error":
			env.LogLevel = l
		default:
			fail("AUTHENTIK_LOG_LEVEL", "unknown level %q (want trace, debug, info, warning or error)", v)
		}
	}

	if v, ok := get("AUTHENTIK_LOG__FORMAT"); ok {
		f := strings.ToLower(v)
		switch f {
		case LogFormatJSON, LogFormatText, LogFormatAuthentik:
			env.LogFormat = f
		default:
			fail("AUTHENTIK_LOG__FORMAT", "unknown format %q (want json, text or authentik)", v)
		}
	}

	if v, ok := get("AUTHENTIK_DEBUG"); ok {
		b, err := ParseEnvBool(v)
		if err != nil {
			fail("AUTHENTIK_DEBUG", "%v", err)
		}
		env.Debug = b
	}

	env.Limits = DefaultLimits
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
	duration("AUTHENTIK_WEB__TIMEOUT_HTTP_READ_HEADER", &env.Limits.ReadHeaderTimeout)
	duration("AUTHENTIK_WEB__TIMEOUT_HTTP_IDLE", &env.Limits.IdleTimeout)
	count("OUTPOST_LISTEN__MAX_HEADER_BYTES", &env.Limits.MaxHeaderBytes, 4096)
	count("OUTPOST_LISTEN__MAX_WEBSOCKETS_PER_CLIENT", &env.Limits.MaxWebsocketsPerClient, 1)
	count("OUTPOST_LISTEN__MAX_CONNS_PER_CLIENT", &env.Limits.MaxConnsPerClient, 1)
	duration("OUTPOST_LISTEN__BODY_IDLE_TIMEOUT", &env.Limits.BodyIdleTimeout)
	count("OUTPOST_AUTH__FAILED_CREDENTIALS_PER_MINUTE", &env.Limits.FailedCredentialsPerMinute, 1)
	duration("OUTPOST_AUTH__CREDENTIAL_CACHE_TTL", &env.Limits.CredentialCacheTTL)
	duration("OUTPOST_PROXY__RESPONSE_HEADER_TIMEOUT", &env.Limits.ResponseHeaderTimeout)
	count("OUTPOST_AUTH__BACKCHANNEL_LOGOUTS_PER_MINUTE", &env.Limits.BackchannelLogoutsPerMinute, 1)
	if env.Limits.CredentialCacheTTL > time.Minute {
		fail("OUTPOST_AUTH__CREDENTIAL_CACHE_TTL", "at most 1m: a revoked token must stop working within it, got %s", env.Limits.CredentialCacheTTL)
	}

	if v, ok := get("OUTPOST_AUTH__ADDITIONAL_HEADERS"); ok {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				env.AdditionalHeaders = append(env.AdditionalHeaders, name)
			}
		}
	}

	env.AllowedUpgrades = DefaultAllowedUpgrades
	if v, ok := get("OUTPOST_PROXY__ALLOWED_UPGRADES"); ok {
		list, err := ParseUpgradeList(v)
		if err != nil {
			fail("OUTPOST_PROXY__ALLOWED_UPGRADES", "%v (or none)", err)
		}
		env.AllowedUpgrades = list
	}

	env.Sessions = loadPostgresEnv(loadSessionEnv(get, fail), get, fail)

	if len(errs) > 0 {
		return Env{}, errors.Join(errs...)
	}
	return env, nil
}

// Limits bound what one client can take from the listeners, and how long
// an upstream may keep one waiting.
type Limits struct {
	// ReadHeaderTimeout bounds how long a client may take to send its
	// request headers (slowloris).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections that stay unused.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers, cookies included.
	MaxHeaderBytes int
	// MaxWebsocketsPerClient caps concurrent websocket upgrades per client IP.
	MaxWebsocketsPerClient int
	// MaxConnsPerClient caps the open connections of one client IP (per
	// /64 for IPv6) over all listeners; trusted proxy peers are not capped.
	MaxConnsPerClient int
	// BodyIdleTimeout is how long a request body may go without a byte
	// arriving; an upload that keeps making progress is never cut.
	BodyIdleTimeout time.Duration
	// FailedCredentialsPerMinute is each client IP's budget of wrong
	// Bearer/Basic credentials; past it, 429.
	FailedCredentialsPerMinute int
	// CredentialCacheTTL is how long a verified token or app password is
	// trusted before the provider is asked again (at most 1 minute).
	CredentialCacheTTL time.Duration
	// BackchannelLogoutsPerMinute is each client IP's budget of requests
	// to the back-channel logout endpoint, refused ones included.
	BackchannelLogoutsPerMinute int
	// ResponseHeaderTimeout is how long an upstream may take to send its
	// response headers before the client gets a 504; a provider may set
	// its own (standalone response_header_timeout).
	ResponseHeaderTimeout time.Duration
}

// DefaultLimits apply where the environment sets none. There is
// deliberately no read or write timeout on whole requests: uploads, streams
// and websockets must not be cut.
var DefaultLimits = Limits{
	ReadHeaderTimeout:           5 * time.Second,
	IdleTimeout:                 120 * time.Second,
	MaxHeaderBytes:              64 << 10,
	MaxWebsocketsPerClient:      64,
	MaxConnsPerClient:           256,
	BodyIdleTimeout:             60 * time.Second,
	FailedCredentialsPerMinute:  30,
	CredentialCacheTTL:          time.Minute,
	BackchannelLogoutsPerMinute: 30,
	ResponseHeaderTimeout:       DefaultResponseHeaderTimeout,
}

// ResolveEnvValue resolves authentik's indirections: "env://NAME?fallback" is
// the value of NAME, else the fallback (raw, after the first "?");
// "file:///path" is the trimmed content of the file ("?fallback" is used when
// it cannot be read). Anything else is returned unchanged. Resolution is one
// level deep, so values cannot loop.
func ResolveEnvValue(raw string, lookup func(string) (string, bool)) (string, error) {
	switch {
	case strings.HasPrefix(raw, "env://"):
		name, fallback, _ := strings.Cut(strings.TrimPrefix(raw, "env://"), "?")
		if name == "" {
			return "", errors.New("env:// needs a variable name, e.g. env://NAME?fallback")
		}
		if v, ok := lookup(name); ok {
			return v, nil
		}
		return fallback, nil
	case strings.HasPrefix(raw, "file://"):
		path, fallback, hasFallback := strings.Cut(strings.TrimPrefix(raw, "file://"), "?")
		if !strings.HasPrefix(path, "/") {
			return "", fmt.Errorf("file:// needs an absolute path, e.g. file:///run/secrets/token (got %q)", raw)
		}
		b, err := readSmallFile(path)
		if err != nil {
			if hasFallback {
				return fallback, nil
			}
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	return raw, nil
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEnvFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", path, err)
	}
	if len(b) > maxEnvFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxEnvFileSize)
	}
	return b, nil
}

// ParseEnvBool accepts true/false, 1/0, yes/no in any case.
func ParseEnvBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (want true/false, 1/0 or yes/no)", s)
}

// ParseList splits a comma list or a JSON list of strings. Items are trimmed;
// blank items of a comma list are skipped. An explicit JSON "[]" yields an
// empty, non-nil list.
func ParseList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if looksLikeJSONList(s) {
		var items []string
		if err := json.Unmarshal([]byte(s), &items); err != nil {
			return nil, fmt.Errorf("not a JSON list of strings: %v", err)
		}
		out := make([]string, 0, len(items))
		for i, it := range items {
			it = strings.TrimSpace(it)
			if it == "" {
				return nil, fmt.Errorf("item %d of the JSON list is empty", i+1)
			}
			out = append(out, it)
		}
		return out, nil
	}
	var out []string
	for it := range strings.SplitSeq(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out, nil
}

// looksLikeJSONList tells a JSON list (`[` then `"` or `]`) from a comma
// list starting with a bracketed IPv6 address such as "[::]:9000".
func looksLikeJSONList(s string) bool {
	rest, ok := strings.CutPrefix(s, "[")
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " \t\r\n")
	return rest == "" || rest[0] == '"' || rest[0] == ']'
}

// ParseListenAddrs parses a listener value: one host:port or a list of them.
func ParseListenAddrs(s string) ([]string, error) {
	items, err := ParseList(s)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New("no address given (want host:port)")
	}
	for _, a := range items {
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("%q is not host:port: %v", a, err)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && n == 0) {
			return nil, fmt.Errorf("%q: port %q is not a number from 0 to 65535", a, port)
		}
	}
	return items, nil
}

// ParsePrefixList parses CIDRs as a comma list or a JSON list. A bare address
// counts as a single host (/32 or /128). Prefixes are masked to canonical form.
func ParsePrefixList(s string) ([]netip.Prefix, error) {
	items, err := ParseList(s)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Prefix, 0, len(items))
	for _, it := range items {
		p, err := parsePrefix(it)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: %v", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: an address with a zone cannot be a trusted proxy", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseCoreURL checks an http(s) base URL. For AUTHENTIK_HOST (base=true) a
// sub-path must end in "/" since the API and websocket paths are appended to
// it; an empty path becomes "/".
func parseCoreURL(s string, base bool) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q: has no host", s)
	}
	if u.User != nil {
		return nil, fmt.Errorf("URL must not contain user info (credentials in URLs end up in logs)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return nil, fmt.Errorf("%q: bad port %q", s, p)
		}
	}
	if base {
		if u.Path == "" {
			u.Path, u.RawPath = "/", ""
		}
		if !strings.HasSuffix(u.Path, "/") {
			return nil, fmt.Errorf("%q: a sub-path must end in \"/\" (API and websocket paths are appended to it), e.g. %q", s, u.Path+"/")
		}
		u.Fragment, u.RawFragment = "", ""
	}
	return u, nil
}
