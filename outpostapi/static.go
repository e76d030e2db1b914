package outpostapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
		if sp.SessionLifetime < 0 {
			return nil, perr("session_lifetime", errors.New("must not be negative"))
		}
		p.SessionLifetime = sp.SessionLifetime
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

// ruleLine is the line of an authorization field such as
// "paths[1].regex" in provider i, or of its top-level key.
func ruleLine(root *yaml.Node, i int, field string) int {
	path := []any{"providers", i}
	for _, part := range strings.Split(field, ".") {
		name, idx, indexed := strings.Cut(part, "[")
		path = append(path, name)
		if indexed {
			if n, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); err == nil {
				path = append(path, n)
			}
		}
	}
	for len(path) > 2 {
		if l := lineOf(root, path...); l > 0 {
			return l
		}
		path = path[:len(path)-1]
	}
	return lineOf(root, "providers", i)
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

// providerFieldLines maps, for each item of the top-level providers list, the
// field name to the line of its value; "" maps to the item's own line.
func providerFieldLines(root *yaml.Node) []map[string]int {
	list := mappingValue(root, "providers")
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]map[string]int, len(list.Content))
	for i, item := range list.Content {
		m := map[string]int{"": item.Line}
		if item.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(item.Content); j += 2 {
				m[item.Content[j].Value] = item.Content[j+1].Line
			}
		}
		out[i] = m
	}
	return out
}

// lineOf is the line of the value at the given path of mapping keys
// (string) and sequence indexes (int), or 0.
func lineOf(root *yaml.Node, path ...any) int {
	n := root
	for _, step := range path {
		switch k := step.(type) {
		case string:
			n = mappingValue(n, k)
		case int:
			n = sequenceItem(n, k)
		}
		if n == nil {
			return 0
		}
	}
	return n.Line
}

func sequenceItem(n *yaml.Node, i int) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// StaticSource serves a standalone configuration file: it loads it once, then
// reloads it whenever it changes or TriggerRefresh is called (SIGUSR1). A bad
// edit is reported and the last good configuration stays in force.
type StaticSource struct {
	Path string
	Log  *slog.Logger
	// Settle is how long to wait for a burst of file events to end.
	Settle  time.Duration
	trigger chan struct{}

	// Certificate files watched, and how to stop watching them; used only
	// from Run's goroutine.
	watched   []string
	stopWatch context.CancelFunc
}

// NewStaticSource returns a source for the YAML file at path.
func NewStaticSource(path string, log *slog.Logger) *StaticSource {
	if log == nil {
		log = slog.Default()
	}
	return &StaticSource{Path: path, Log: log, Settle: 200 * time.Millisecond, trigger: make(chan struct{}, 1)}
}

// TriggerRefresh asks for a reload; calls while one is pending coalesce.
func (s *StaticSource) TriggerRefresh() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Run loads the file (an error here is returned: there is no last good
// configuration to keep), hands the snapshot to onSnapshot, then reloads on
// every change until ctx is done. Later errors go to onError.
func (s *StaticSource) Run(ctx context.Context, onSnapshot func(*Snapshot), onError func(error)) error {
	snap, err := LoadStaticFile(s.Path)
	if err != nil {
		return err
	}
	started := func() {
		// The watch is in place only now: read again, so an edit made in
		// between is not missed until the next one.
		if fresh, err := s.load(ctx); err == nil {
			snap = fresh
		}
		onSnapshot(snap)
		s.Log.Info("configuration loaded", "path", s.Path, "providers", len(snap.Providers))
	}
	return WatchFile(ctx, s.Path, WatchOptions{Settle: s.Settle, Trigger: s.trigger, Started: started, Log: s.Log}, func() {
		snap, err := s.load(ctx)
		if err != nil {
			onError(fmt.Errorf("%w (keeping the last good configuration)", err))
			return
		}
		onSnapshot(snap)
		s.Log.Info("configuration reloaded", "path", s.Path, "providers", len(snap.Providers))
	})
}

// maxPEMFileSize bounds certificate and key files: a mistaken path to a huge
// file must not be read into memory.
const maxPEMFileSize = 1 << 20

// loadStaticTLS reads a provider's certificate files and checks that they
// make a usable keypair. On error it names the field at fault (cert_file or
// key_file).
func loadStaticTLS(t StaticTLS, p Provider, baseDir string) (Certificate, string, error) {
	if t.CertFile == "" {
		return Certificate{}, "cert_file", errors.New("must be set: the PEM certificate chain, leaf first")
	}
	if t.KeyFile == "" {
		return Certificate{}, "key_file", errors.New("must be set: the PEM private key of the certificate")
	}
	if p.ExternalURL.Port() != "" {
		return Certificate{}, "cert_file", fmt.Errorf("external_host %q has a port: TLS server names never carry one, so this certificate could never be chosen", p.ExternalHost)
	}
	abs := func(f string) string {
		if !filepath.IsAbs(f) {
			f = filepath.Join(baseDir, f)
		}
		if a, err := filepath.Abs(f); err == nil {
			return a
		}
		return f
	}
	certFile, keyFile := abs(t.CertFile), abs(t.KeyFile)
	certPEM, err := ReadPEMFile(certFile)
	if err != nil {
		return Certificate{}, "cert_file", err
	}
	keyPEM, err := ReadPEMFile(keyFile)
	if err != nil {
		return Certificate{}, "key_file", err
	}
	leaf, err := firstCertificate(certPEM)
	if err != nil {
		return Certificate{}, "cert_file", fmt.Errorf("%s: %v", certFile, err)
	}
	// X509KeyPair also checks that the key belongs to the leaf.
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return Certificate{}, "key_file", fmt.Errorf("%s with %s: %v", keyFile, certFile, err)
	}
	sum := sha256.Sum256(leaf.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return Certificate{
		Fingerprint: strings.Join(parts, ":"),
		CertPEM:     string(certPEM), KeyPEM: string(keyPEM),
		CertFile: certFile, KeyFile: keyFile,
	}, "", nil
}

// firstCertificate parses the first CERTIFICATE block of a PEM chain.
func firstCertificate(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// ReadPEMFile reads a certificate or key file of at most 1 MiB; devices
// and FIFOs are refused (reading /dev/zero would never end).
func ReadPEMFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Refuse devices and FIFOs: reading /dev/zero would never end.
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPEMFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPEMFileSize)
	}
	return b, nil
}

// certificateFiles are the files a snapshot's standalone keypairs were read
// from, sorted, each once.
func certificateFiles(snap *Snapshot) []string {
	var files []string
	for _, c := range snap.Certificates {
		for _, f := range []string{c.CertFile, c.KeyFile} {
			if f != "" {
				files = append(files, f)
			}
		}
	}
	slices.Sort(files)
	return slices.Compact(files)
}

// load reads the file and makes sure the certificate files it names are
// watched. When they were not yet, it reads once more after the watches are
// in place, so a rotation in between is not missed.
func (s *StaticSource) load(ctx context.Context) (*Snapshot, error) {
	snap, err := LoadStaticFile(s.Path)
	if err != nil || !s.watchCertificates(ctx, snap) {
		return snap, err
	}
	if again, err := LoadStaticFile(s.Path); err == nil {
		snap = again
	}
	return snap, nil
}

// watchCertificates reloads the configuration whenever a certificate or key
// file of snap changes, as cert-manager or a Kubernetes Secret rotates them
// in place. The watched files follow each snapshot; it reports whether it
// started new watches, and returns once they are in place.
func (s *StaticSource) watchCertificates(ctx context.Context, snap *Snapshot) bool {
	files := certificateFiles(snap)
	if slices.Equal(files, s.watched) {
		return false
	}
	if s.stopWatch != nil {
		s.stopWatch()
	}
	wctx, cancel := context.WithCancel(ctx)
	s.watched, s.stopWatch = files, cancel
	ready := make(chan struct{}, len(files))
	for _, f := range files {
		go func() {
			err := WatchFile(wctx, f, WatchOptions{Settle: s.Settle, Log: s.Log, Started: func() { ready <- struct{}{} }}, s.TriggerRefresh)
			if err != nil {
				s.Log.Warn("cannot watch a certificate file; SIGUSR1 reloads it", "path", f, "error", err)
				ready <- struct{}{}
			}
		}()
	}
	for range files {
		<-ready
	}
	return true
}
