package devcore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// identityProvider serves the OAuth2/OIDC endpoints of proxy providers the
// way authentik 2026.2 does for them (spec §3.2, §6, §7, §10, §13): a login
// form at the authorize endpoint, HS256 tokens keyed with the client secret,
// introspection, userinfo, refresh, end-session and SESSION_END on every
// core-session end.
//
// Its state (core sessions, authorization codes, issued tokens) lives in
// memory, outside the configuration, so a config reload keeps it; every
// request looks the provider and the user up again in the config in force.
type identityProvider struct {
	s *Server

	// csrfKey keys the login form's CSRF tokens; per process.
	csrfKey []byte

	// skew shifts the clock (nanoseconds); tests move time forward with it
	// to expire codes, tokens and sessions. Zero in production.
	skew atomic.Int64

	// onSessionEnd, when non-nil, is called with the sid of every core
	// session that ends (end-session, admin end, replacement by a new
	// login, expiry), right after s.ctl.broadcastSessionEnd. It is a test
	// hook: set it before the server handles requests, never later.
	onSessionEnd func(sid string)

	mu sync.Mutex // guards everything below
	st idpState
	// ended collects sids of sessions ended while mu is held; they are
	// announced once it is released (see locked).
	ended []string
}

// Limits on the in-memory state. A devcore is for demos and tests; these
// only keep a runaway client from growing it without bound.
const (
	maxCoreSessions = 10_000
	maxAuthCodes    = 10_000
	maxTokens       = 100_000
	// sweepInterval is how often expired entries are dropped (lazily, by
	// the next request that touches the state).
	sweepInterval = 30 * time.Second
)

// Lifetimes, as authentik's defaults.
const (
	authCodeTTL = 60 * time.Second
	// coreSessionTTL bounds a core (SSO) session; its cookie is a browser
	// session cookie.
	coreSessionTTL = 24 * time.Hour
	// refreshTokenTTL is authentik's default refresh_token_validity
	// (days=30); proxy providers do not expose it.
	refreshTokenTTL = 30 * 24 * time.Hour
	// defaultAccessTokenValidity is used when the provider has none.
	defaultAccessTokenValidity = 86400 * time.Second
)

func newIdentityProvider(s *Server) *identityProvider {
	p := &identityProvider{s: s, csrfKey: make([]byte, 32)}
	if _, err := rand.Read(p.csrfKey); err != nil {
		panic("devcore: no randomness: " + err.Error())
	}
	p.st.init()
	return p
}

func (p *identityProvider) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /application/o/{slug}/.well-known/openid-configuration", p.handleDiscovery)
	mux.HandleFunc("GET /application/o/{slug}/jwks/{$}", p.handleJWKS)
	mux.HandleFunc("GET /application/o/authorize/{$}", p.handleAuthorize)
	mux.HandleFunc("POST /application/o/authorize/{$}", p.handleAuthorize)
	mux.HandleFunc("POST /application/o/token/{$}", p.handleToken)
	mux.HandleFunc("POST /application/o/introspect/{$}", p.handleIntrospect)
	mux.HandleFunc("GET /application/o/userinfo/{$}", p.handleUserinfo)
	mux.HandleFunc("POST /application/o/userinfo/{$}", p.handleUserinfo)
	mux.HandleFunc("GET /application/o/{slug}/end-session/{$}", p.handleEndSession)
	mux.HandleFunc("POST /application/o/{slug}/end-session/{$}", p.handleEndSession)
	mux.HandleFunc("POST /api/devcore/users/{username}/end-sessions", p.s.adminOnly(p.handleAdminEndSessions))
}

// now is the (possibly test-shifted) current time.
func (p *identityProvider) now() time.Time {
	return time.Now().Add(time.Duration(p.skew.Load()))
}

// locked runs fn with the state locked, after dropping expired entries when
// a sweep is due. Sessions that ended meanwhile (in fn or by expiry) are
// announced after the lock is released, so the broadcast never runs under
// it. fn must not call locked.
func (p *identityProvider) locked(fn func(st *idpState, now time.Time)) {
	p.mu.Lock()
	now := p.now()
	if now.Sub(p.st.lastSweep) >= sweepInterval || now.Before(p.st.lastSweep) {
		p.ended = append(p.ended, p.st.sweep(now)...)
	}
	fn(&p.st, now)
	ended := p.ended
	p.ended = nil
	p.mu.Unlock()
	for _, sid := range ended {
		p.announceSessionEnd(sid)
	}
}

// announceSessionEnd tells every connected outpost that the core session
// sid is gone (SESSION_END, spec §2.3) and calls the test hook.
func (p *identityProvider) announceSessionEnd(sid string) {
	p.s.log.Info("core session ended", "sid", sid)
	p.s.ctl.broadcastSessionEnd(sid)
	if p.onSessionEnd != nil {
		p.onSessionEnd(sid)
	}
}

// providerByClientID is the provider with that client_id, or nil.
func providerByClientID(cfg *Config, clientID string) *ProviderConfig {
	if cfg == nil || clientID == "" {
		return nil
	}
	for i := range cfg.Providers {
		if cfg.Providers[i].ClientID == clientID {
			return &cfg.Providers[i]
		}
	}
	return nil
}

// providerBySlug is the provider bound to the application slug, or nil.
func providerBySlug(cfg *Config, slug string) *ProviderConfig {
	if cfg == nil || slug == "" {
		return nil
	}
	for i := range cfg.Providers {
		if appSlug(&cfg.Providers[i]) == slug {
			return &cfg.Providers[i]
		}
	}
	return nil
}

// appSlug is the provider's application slug (default: its name).
func appSlug(pc *ProviderConfig) string {
	if pc.ApplicationSlug != "" {
		return pc.ApplicationSlug
	}
	return pc.Name
}

// appName is the provider's application name, for pages.
func appName(pc *ProviderConfig) string {
	switch {
	case pc.ApplicationName != "":
		return pc.ApplicationName
	case pc.Name != "":
		return pc.Name
	}
	return appSlug(pc)
}

// accessTokenValidity is the provider's access token lifetime.
func accessTokenValidity(pc *ProviderConfig) time.Duration {
	if pc.AccessTokenValidity == nil || *pc.AccessTokenValidity < 1 {
		return defaultAccessTokenValidity
	}
	return time.Duration(*pc.AccessTokenValidity) * time.Second
}

// userByName is the configured user, or nil.
func userByName(cfg *Config, username string) *UserConfig {
	if cfg == nil || username == "" {
		return nil
	}
	for i := range cfg.Users {
		if cfg.Users[i].Username == username {
			return &cfg.Users[i]
		}
	}
	return nil
}

// userAllowed reports whether the provider's allowed_groups admit the user
// (the application's policy binding in authentik); empty admits everyone.
func userAllowed(pc *ProviderConfig, u *UserConfig) bool {
	if len(pc.AllowedGroups) == 0 {
		return true
	}
	for _, g := range u.Groups {
		for _, a := range pc.AllowedGroups {
			if g == a {
				return true
			}
		}
	}
	return false
}

// sha256Hex is the lowercase hex SHA-256 of s.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// randomHex is n random bytes, hex encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("devcore: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// writeJSON writes v as JSON with status; token-bearing responses must not
// be cached (RFC 6749 §5.1), and none of ours need to be.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// oauthError is an RFC 6749 §5.2 error body.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// writeOAuthError writes an RFC 6749 error: 401 for invalid_client (with a
// challenge), 503 when the devcore is full, 500 for server_error, else 400.
func writeOAuthError(w http.ResponseWriter, code, desc string) {
	status := http.StatusBadRequest
	switch code {
	case "invalid_client":
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="devcore"`)
	case "temporarily_unavailable":
		status = http.StatusServiceUnavailable
	case "server_error":
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, oauthError{Error: code, ErrorDescription: desc})
}
