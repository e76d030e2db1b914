package session

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func codec(t *testing.T, clientID, secret string, maxAge time.Duration) *Codec {
	t.Helper()
	c, err := NewCodec(CookieOptions{ClientID: clientID, CookieSecret: secret, Domain: "example.com", Secure: true, MaxAge: maxAge})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func withCookie(ck *http.Cookie) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	return r
}

func TestCookieName(t *testing.T) {
	// sha256("whoami") computed with sha256sum: the name the reference
	// outpost uses for that client id.
	if got := CookieName("whoami"); got != "authentik_proxy_f2529785" {
		t.Fatalf("CookieName = %q", got)
	}
	if CookieName("a") == CookieName("b") {
		t.Error("different clients share a cookie name")
	}
}

func TestCookieRoundTripAndAttributes(t *testing.T) {
	c := codec(t, "app", "0123456789abcdef0123", time.Hour)
	id := NewID()
	ck, err := c.Cookie(id, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ck.MaxAge != 3600 {
		t.Errorf("Max-Age %d not capped at the codec's 3600", ck.MaxAge)
	}
	line := ck.String()
	for _, want := range []string{"Path=/", "Domain=example.com", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age=3600"} {
		if !strings.Contains(line, want) {
			t.Errorf("Set-Cookie %q lacks %s", line, want)
		}
	}
	if strings.Contains(ck.Value, id) {
		t.Error("session id readable in the cookie value")
	}
	got, err := c.SessionID(withCookie(ck))
	if err != nil || got != id {
		t.Fatalf("SessionID = %q, %v", got, err)
	}
	if exp := c.Expire(); exp.MaxAge != -1 || !strings.Contains(exp.String(), "Max-Age=0") {
		t.Errorf("Expire: %s", exp)
	}
}

func TestCookieRejections(t *testing.T) {
	c := codec(t, "app", "0123456789abcdef0123", time.Hour)
	ck, _ := c.Cookie("session-1", time.Hour)
	// Every refusal below also holds once the value has been verified and
	// sits in the cache of verified values.
	if id, err := c.SessionID(withCookie(ck)); err != nil || id != "session-1" {
		t.Fatalf("SessionID = %q, %v", id, err)
	}

	if _, err := c.SessionID(httptest.NewRequest("GET", "/", nil)); err != ErrNoCookie {
		t.Errorf("no cookie: %v", err)
	}
	tampered := *ck
	tampered.Value = ck.Value[:len(ck.Value)-2] + "AA"
	if _, err := c.SessionID(withCookie(&tampered)); err == nil || err == ErrNoCookie {
		t.Errorf("tampered cookie accepted or unnoticed: %v", err)
	}
	// Same client id, different secret (another deployment): refused.
	other := codec(t, "app", "another-secret-entirely", time.Hour)
	if _, err := other.SessionID(withCookie(ck)); err == nil {
		t.Error("cookie accepted under another cookie_secret")
	}
	// A value minted for another provider, replayed under this name.
	foreign := codec(t, "other-app", "0123456789abcdef0123", time.Hour)
	fck, _ := foreign.Cookie("session-2", time.Hour)
	fck.Name = c.Name()
	if _, err := c.SessionID(withCookie(fck)); err == nil {
		t.Error("another provider's cookie value accepted")
	}
	// Older than MaxAge: refused whatever the browser kept.
	short := codec(t, "app", "0123456789abcdef0123", time.Second)
	sck, _ := short.Cookie("session-3", time.Second)
	// Verified while young (so remembered by the cache), then too old.
	if id, err := short.SessionID(withCookie(sck)); err != nil || id != "session-3" {
		t.Fatalf("fresh cookie: %q %v", id, err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := short.SessionID(withCookie(sck)); err == nil {
		t.Error("expired cookie value accepted")
	}
	// One bad and one good cookie of the same name: the good one counts.
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: c.Name(), Value: "garbage"})
	r.AddCookie(&http.Cookie{Name: c.Name(), Value: ck.Value})
	if id, err := c.SessionID(r); err != nil || id != "session-1" {
		t.Errorf("good cookie beside a bad one: %q %v", id, err)
	}
	if _, err := NewCodec(CookieOptions{ClientID: "x", CookieSecret: "short", MaxAge: time.Hour}); err == nil {
		t.Error("short cookie secret accepted")
	}
}

func FuzzCookieDecode(f *testing.F) {
	c, _ := NewCodec(CookieOptions{ClientID: "app", CookieSecret: "0123456789abcdef0123", MaxAge: time.Hour})
	ck, _ := c.Cookie("id", time.Hour)
	f.Add(ck.Value)
	f.Add("")
	f.Add("a|b|c")
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", c.Name()+"="+v)
		// "id" is the only id ever minted with these keys (fuzz workers
		// re-mint it with a new IV and timestamp); anything else is forged.
		if id, err := c.SessionID(r); err == nil && id != "id" {
			t.Fatalf("forged value %q decoded to %q", v, id)
		}
	})
}

func TestNamedCodecsAreIndependent(t *testing.T) {
	sess := codec(t, "app", "0123456789abcdef0123", time.Hour)
	login, err := NewCodec(CookieOptions{Name: sess.Name() + "_login", ClientID: "app", CookieSecret: "0123456789abcdef0123", MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := login.Cookie("attempt", time.Minute)
	if ck.Name != sess.Name()+"_login" {
		t.Fatalf("name %q", ck.Name)
	}
	if id, err := login.SessionID(withCookie(ck)); err != nil || id != "attempt" {
		t.Fatalf("login cookie: %q %v", id, err)
	}
	// A login-attempt value presented as a session cookie is refused.
	ck.Name = sess.Name()
	if _, err := sess.SessionID(withCookie(ck)); err == nil {
		t.Error("login cookie value accepted as a session")
	}
}

// A verified value is remembered: a browser's later requests cost no
// HMAC, no AES and no allocation.
func TestVerifiedCookieIsCached(t *testing.T) {
	c := codec(t, "app", "0123456789abcdef0123", time.Hour)
	ck, _ := c.Cookie("session-1", time.Hour)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "_ga=GA1.1.123; "+ck.Name+"="+ck.Value+"; theme=dark")
	if id, err := c.SessionID(r); err != nil || id != "session-1" {
		t.Fatalf("SessionID = %q, %v", id, err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if id, _ := c.SessionID(r); id != "session-1" {
			t.Fatal("lost the session")
		}
	}); n != 0 {
		t.Errorf("%v allocations per cached lookup", n)
	}
}

func TestVerifiedCookiesStayBounded(t *testing.T) {
	v := &verifiedCookies{entries: map[cookieKey]verifiedCookie{}, max: 3}
	for i := range 10 {
		value := base64.URLEncoding.EncodeToString(fmt.Appendf(nil, "%d|x%d|mac", time.Now().Unix(), i))
		v.remember("scope", value, "id")
		if _, ok := v.entries[cookieKey{"scope", value}]; !ok {
			t.Fatalf("value %d not remembered", i)
		}
	}
	if len(v.entries) > 3 {
		t.Errorf("%d entries, max 3", len(v.entries))
	}
	// A value without a readable timestamp is never remembered.
	v.remember("scope", "not base64!", "id")
	if _, ok := v.entries[cookieKey{"scope", "not base64!"}]; ok {
		t.Error("unreadable value remembered")
	}
}
