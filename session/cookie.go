package session

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
)

// CookieName is the session cookie of a provider (spec §5):
// authentik_proxy_ + the first 8 hex characters of sha256(client_id).
func CookieName(clientID string) string {
	sum := sha256.Sum256([]byte(clientID))
	return "authentik_proxy_" + hex.EncodeToString(sum[:])[:8]
}

// HostPrefix is the cookie name prefix a browser accepts only from the
// host itself, over HTTPS, with Path=/ and no Domain (RFC 6265bis §4.1.3.2):
// a sibling subdomain can neither set nor overwrite such a cookie.
const HostPrefix = "__Host-"

// NewID returns a fresh session id: 32 random bytes, base32 without padding.
func NewID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// CookieOptions are a provider's cookie attributes.
type CookieOptions struct {
	// Name defaults to CookieName(ClientID); other cookies of a provider
	// (the login attempt) pass their own, and get keys of their own.
	Name string
	// HostOnly puts HostPrefix before the name; it needs Secure and no
	// Domain, as browsers drop a __Host- cookie without them.
	HostOnly     bool
	ClientID     string
	CookieSecret string
	// Domain is cookie_domain; empty means a host-only cookie.
	Domain string
	// Secure is true when the external host is https.
	Secure bool
	// MaxAge is the longest a cookie value is accepted, whatever its
	// Max-Age attribute said: a stolen old value stops working.
	MaxAge time.Duration
}

// Codec writes and reads one provider's session cookie. The value carries
// only the session id (or, for other cookies, a small value), signed
// (HMAC-SHA256) and encrypted (AES-256) with keys derived from cookie_secret
// and the cookie name, plus a timestamp checked against MaxAge.
type Codec struct {
	opts CookieOptions
	name string
	// plain is the name without HostPrefix.
	plain string
	sc    *securecookie.SecureCookie
	// scope names the keys in the cache of verified values.
	scope string
}

// NewCodec derives the keys; distinct labels keep the HMAC and AES keys
// independent although they come from one secret.
func NewCodec(o CookieOptions) (*Codec, error) {
	if len(o.CookieSecret) < 16 {
		return nil, errors.New("cookie_secret must be at least 16 characters")
	}
	if o.MaxAge <= 0 {
		return nil, errors.New("cookie max age must be positive")
	}
	plain := o.Name
	if plain == "" {
		plain = CookieName(o.ClientID)
	}
	name := plain
	if o.HostOnly {
		if !o.Secure || o.Domain != "" {
			return nil, errors.New("a " + HostPrefix + " cookie must be Secure and have no Domain")
		}
		name = HostPrefix + plain
	}
	// hkdf.Key is Extract then Expand: one Extract serves both keys.
	prk, err := hkdf.Extract(sha256.New, []byte(o.CookieSecret), nil)
	if err != nil {
		return nil, err
	}
	hashKey, err := hkdf.Expand(sha256.New, prk, "outpost cookie hmac "+name, 64)
	if err != nil {
		return nil, err
	}
	blockKey, err := hkdf.Expand(sha256.New, prk, "outpost cookie aes "+name, 32)
	if err != nil {
		return nil, err
	}
	sc := securecookie.New(hashKey, blockKey).MaxAge(int(o.MaxAge / time.Second)).MaxLength(4096)
	sc.SetSerializer(securecookie.NopEncoder{})
	scope := sha256.Sum256(append(append([]byte(name+"\x00"), hashKey...), blockKey...))
	return &Codec{opts: o, name: name, plain: plain, sc: sc, scope: string(scope[:])}, nil
}

// Name is the cookie's name, the only one SessionID reads.
func (c *Codec) Name() string { return c.name }

// HostOnly reports whether the name carries HostPrefix.
func (c *Codec) HostOnly() bool { return c.opts.HostOnly }

// PlainName is the name without HostPrefix: on a HostOnly codec, the
// name such a cookie had before the prefix, which is never read.
func (c *Codec) PlainName() string { return c.plain }

// Cookie is a Set-Cookie carrying value (a session id), living for maxAge
// (capped at the codec's MaxAge).
func (c *Codec) Cookie(value string, maxAge time.Duration) (*http.Cookie, error) {
	sealed, err := c.sc.Encode(c.name, []byte(value))
	if err != nil {
		return nil, fmt.Errorf("encoding session cookie: %w", err)
	}
	if maxAge > c.opts.MaxAge {
		maxAge = c.opts.MaxAge
	}
	seconds := int(maxAge / time.Second)
	if seconds < 1 {
		seconds = 1
	}
	ck := c.base()
	ck.Value = sealed
	ck.MaxAge = seconds
	return ck, nil
}

// Expire is a Set-Cookie that deletes the cookie in the browser.
func (c *Codec) Expire() *http.Cookie {
	ck := c.base()
	ck.MaxAge = -1
	return ck
}

func (c *Codec) base() *http.Cookie {
	return &http.Cookie{
		Name:     c.name,
		Path:     "/",
		Domain:   c.opts.Domain,
		HttpOnly: true,
		Secure:   c.opts.Secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// ErrNoCookie means the request carries no session cookie of this provider.
var ErrNoCookie = errors.New("no session cookie")

// SessionID reads the value (session id) from the request's cookie. A cookie that is
// present but forged, tampered with, of another provider, or too old is an
// error other than ErrNoCookie: the caller expires it and treats the request
// as signed out.
func (c *Codec) SessionID(r *http.Request) (string, error) {
	if id, ok := cachedSessionID(r, c.name, c.scope, c.opts.MaxAge); ok {
		return id, nil
	}
	var lastErr error = ErrNoCookie
	// A browser can hold several cookies of one name (different Domain or
	// Path); any valid one will do.
	for _, ck := range r.CookiesNamed(c.name) {
		var id []byte
		if err := c.sc.Decode(c.name, ck.Value, &id); err != nil {
			lastErr = fmt.Errorf("invalid session cookie: %w", err)
			continue
		}
		if len(id) == 0 {
			lastErr = errors.New("invalid session cookie: empty id")
			continue
		}
		sid := string(id)
		verified.remember(c.scope, ck.Value, sid)
		return sid, nil
	}
	return "", lastErr
}
