package session

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A HostOnly codec writes __Host- cookies and reads nothing else: not the
// plain name, even carrying a value sealed for it with the same secret.
func TestHostOnlyCodec(t *testing.T) {
	const secret = "0123456789abcdef0123"
	hc, err := NewCodec(CookieOptions{ClientID: "app", CookieSecret: secret, Secure: true, HostOnly: true, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if hc.Name() != HostPrefix+CookieName("app") || hc.PlainName() != CookieName("app") || !hc.HostOnly() {
		t.Fatalf("names %q, %q", hc.Name(), hc.PlainName())
	}
	id := NewID()
	ck, err := hc.Cookie(id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*http.Cookie{ck, hc.Expire()} {
		line := c.String()
		if !strings.HasPrefix(line, HostPrefix) || !strings.Contains(line, "; Path=/") || !strings.Contains(line, "; Secure") || strings.Contains(line, "Domain=") {
			t.Errorf("Set-Cookie %q: want __Host-, Path=/, Secure, no Domain", line)
		}
	}
	if got, err := hc.SessionID(withCookie(ck)); err != nil || got != id {
		t.Fatalf("own cookie: %q, %v", got, err)
	}

	plain, err := NewCodec(CookieOptions{ClientID: "app", CookieSecret: secret, Secure: true, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := plain.Cookie(id, time.Hour)
	if _, err := hc.SessionID(withCookie(pk)); !errors.Is(err, ErrNoCookie) {
		t.Errorf("plain-named cookie read by the __Host- codec: %v", err)
	}
	// The same value under the prefixed name does not verify either: the
	// name is part of the keys and of the signed data.
	if _, err := hc.SessionID(withCookie(&http.Cookie{Name: hc.Name(), Value: pk.Value})); err == nil || errors.Is(err, ErrNoCookie) {
		t.Errorf("a plain cookie's value renamed to __Host-: %v, want invalid", err)
	}
}

func TestHostOnlyNeedsSecureWithoutDomain(t *testing.T) {
	for name, o := range map[string]CookieOptions{
		"not secure":  {ClientID: "app", CookieSecret: "0123456789abcdef0123", HostOnly: true, MaxAge: time.Hour},
		"with domain": {ClientID: "app", CookieSecret: "0123456789abcdef0123", HostOnly: true, Secure: true, Domain: "example.com", MaxAge: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewCodec(o); err == nil {
				t.Error("accepted: browsers drop such a __Host- cookie")
			}
		})
	}
}
