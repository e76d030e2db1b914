package devcore

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// Titles of the message page.
const (
	pageBadRequest    = "Something is wrong with this request"
	pageAccessDenied  = "Access denied"
	pageSignedOut     = "Signed out"
	pageUnavailable   = "Try again later"
	pageNotFound      = "Not found"
	pageMisconfigured = "This application is misconfigured"
)

// csrfCookie carries the browser's login-form CSRF secret; the form's token
// is an HMAC of it, so a cross-site page can neither read nor forge it.
const csrfCookie = "authentik_csrf"

// hiddenField is a parameter of the authorization request carried through
// the login form.
type hiddenField struct{ Name, Value string }

type loginPage struct {
	AppName  string
	Action   string
	CSRF     string
	Hidden   []hiddenField
	Username string
	Error    string
}

type messagePage struct{ Title, Text string }

// setPageHeaders: our pages load nothing, are never framed, never cached,
// and leak no URL (authorization parameters) through Referer.
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// render executes a page template into a buffer first, so a failure is a
// clean 500 rather than half a page.
func (p *identityProvider) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		p.s.log.Error("rendering page", "template", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// renderMessage shows a small page with a title and a sentence.
func (p *identityProvider) renderMessage(w http.ResponseWriter, status int, title, text string) {
	p.render(w, status, "message", messagePage{Title: title, Text: text})
}

// renderLogin shows the login form for an authorization request.
func (p *identityProvider) renderLogin(w http.ResponseWriter, r *http.Request, req *authorizeRequest, username, errMsg string, status int) {
	secret := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
		secret = c.Value
	} else {
		secret = randomHex(32)
		http.SetCookie(w, &http.Cookie{
			Name:     csrfCookie,
			Value:    secret,
			Path:     "/application/o/",
			HttpOnly: true,
			Secure:   isHTTPS(r),
			SameSite: http.SameSiteLaxMode,
		})
	}
	hidden := []hiddenField{
		{"client_id", req.clientID},
		{"redirect_uri", req.redirectURI},
		{"response_type", req.responseType},
		{"scope", joinScope(req.scope)},
	}
	for _, f := range []hiddenField{
		{"state", req.state},
		{"nonce", req.nonce},
		{"code_challenge", req.challenge},
		{"code_challenge_method", req.challengeMethod},
		{"acr_values", strings.Join(req.acrValues, " ")},
	} {
		if f.Value != "" {
			hidden = append(hidden, f)
		}
	}
	p.render(w, status, "login", loginPage{
		AppName:  appName(req.provider),
		Action:   "/application/o/authorize/",
		CSRF:     p.csrfToken(secret),
		Hidden:   hidden,
		Username: username,
		Error:    errMsg,
	})
}

// csrfToken is the form token for a browser's CSRF secret.
func (p *identityProvider) csrfToken(secret string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte("devcore login form\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid checks the form's token against the browser's CSRF cookie.
func (p *identityProvider) csrfValid(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) != 64 {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("csrf_token"))
	if err != nil {
		return false
	}
	want, _ := base64.RawURLEncoding.DecodeString(p.csrfToken(c.Value))
	return hmac.Equal(got, want)
}

// handleLogin is the login form's POST: check the CSRF token and the
// password, start a core session, then continue the authorization request.
func (p *identityProvider) handleLogin(w http.ResponseWriter, r *http.Request, cfg *Config, req *authorizeRequest) {
	username := r.PostForm.Get("username")
	if !p.csrfValid(r) {
		p.s.log.Warn("login form refused: CSRF token missing or invalid")
		p.renderLogin(w, r, req, username, "This form expired. Please sign in again.", http.StatusForbidden)
		return
	}
	user := userByName(cfg, username)
	if !passwordMatches(cfg, user, r.PostForm.Get("password")) {
		p.s.log.Warn("login failed", "username", username)
		p.renderLogin(w, r, req, username, "Invalid username or password.", http.StatusOK)
		return
	}
	sess, err := p.startSession(w, r, user.Username)
	if err != nil {
		p.s.log.Error("starting a core session", "error", err)
		p.renderMessage(w, http.StatusServiceUnavailable, pageUnavailable, "Too many people are signed in right now.")
		return
	}
	p.s.log.Info("login", "username", user.Username, "sid", sess.sid)
	p.grantCode(w, r, cfg, req, sess)
}

// passwordMatches checks password against the user's bcrypt hash. For an
// unknown user (or one without a usable hash) it still runs a bcrypt
// comparison of typical cost, so timing does not tell who exists.
func passwordMatches(cfg *Config, u *UserConfig, password string) bool {
	if u != nil {
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
			return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil
		}
	}
	_ = bcrypt.CompareHashAndPassword(dummyHash(typicalCost(cfg)), []byte(password))
	return false
}

// appPasswordMatches checks password against the user's app passwords (the
// client_credentials grant), with the same unknown-user care.
func appPasswordMatches(cfg *Config, u *UserConfig, password string) bool {
	if u == nil || len(u.AppPasswords) == 0 {
		_ = bcrypt.CompareHashAndPassword(dummyHash(typicalCost(cfg)), []byte(password))
		return false
	}
	ok := false
	for _, h := range u.AppPasswords {
		if bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) == nil {
			ok = true
		}
	}
	return ok
}

// typicalCost is the bcrypt cost of the configured users' hashes (the
// first readable one), else bcrypt's default.
func typicalCost(cfg *Config) int {
	if cfg != nil {
		for _, u := range cfg.Users {
			if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil {
				return min(max(c, bcrypt.MinCost), 16)
			}
		}
	}
	return bcrypt.DefaultCost
}

var dummyHashes sync.Map // cost → []byte

// dummyHash is a bcrypt hash of a throwaway password at cost, made once.
func dummyHash(cost int) []byte {
	if h, ok := dummyHashes.Load(cost); ok {
		return h.([]byte)
	}
	h, err := bcrypt.GenerateFromPassword([]byte("devcore: nobody has this password"), cost)
	if err != nil {
		h = []byte{}
	}
	actual, _ := dummyHashes.LoadOrStore(cost, h)
	return actual.([]byte)
}
