package proxy_test

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
)

// Forged tokens do not make the outpost fetch the issuer's keys again and
// again: however many arrive (logout tokens or Bearer JWTs), the JWKS is
// fetched once within the interval (the first fetch, at first use), and
// the issuer's real tokens keep verifying without a fetch.
func TestForgedTokensFetchKeysOncePerInterval(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const forgeries = 25
	cases := []struct {
		name   string
		forge  func(e *backchannelEnv) string
		bearer bool
	}{
		{"unknown key id", func(e *backchannelEnv) string { return e.iss.signAs(t, otherKey, "k-forged", e.claims(nil)) }, false},
		{"known key id, other key", func(e *backchannelEnv) string { return e.iss.signAs(t, otherKey, "k1", e.claims(nil)) }, false},
		{"no key id", func(e *backchannelEnv) string { return e.iss.signAs(t, otherKey, "", e.claims(nil)) }, false},
		{"tampered signature", func(e *backchannelEnv) string {
			tok := e.iss.sign(t, e.iss.key, e.claims(nil))
			i := strings.LastIndexByte(tok, '.') + 5
			b := byte('A')
			if tok[i] == 'A' {
				b = 'B'
			}
			return tok[:i] + string(b) + tok[i+1:]
		}, false},
		{"Bearer JWT with an unknown key id", func(e *backchannelEnv) string {
			return e.iss.signAs(t, otherKey, "k-forged", e.claims(func(c map[string]any) { c["sub"] = "mallory" }))
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := session.NewMemoryStore(session.MemoryOptions{})
			defer store.Close()
			e := newBackchannelEnv(t, store)
			for i := range forgeries {
				tok := tc.forge(e)
				if tc.bearer {
					req, _ := http.NewRequest("GET", e.external+"/", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					readBody(resp)
					if resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("forged Bearer JWT %d: %d, want 401", i, resp.StatusCode)
					}
					continue
				}
				if code, body := e.post(tok); code != http.StatusBadRequest {
					t.Fatalf("forged logout token %d: %d %s, want 400", i, code, body)
				}
			}
			if n := e.iss.jwksFetches(); n > 1 {
				t.Errorf("%d forged tokens: the JWKS was fetched %d times, want at most once", forgeries, n)
			}
			before := e.iss.jwksFetches()
			if code, body := e.post(e.iss.sign(t, e.iss.key, e.claims(nil))); code != http.StatusOK {
				t.Fatalf("the issuer's own logout token after the forgeries: %d %s, want 200", code, body)
			}
			if n := e.iss.jwksFetches(); n > max(before, 1) {
				t.Errorf("a token signed with a known key fetched the JWKS (%d fetches, had %d)", n, before)
			}
		})
	}
}

// A key rotation at the issuer is picked up: a token under a new key id
// fetches the JWKS again once the interval since the last fetch has passed
// (before that it is refused without a fetch).
func TestRotatedKeyPickedUpAfterInterval(t *testing.T) {
	const interval = 2 * time.Second
	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		keepOld  bool
		oldAfter int // the status of a token under the old key after the rotation
	}{
		{"new key beside the old", true, http.StatusOK},
		{"old key withdrawn", false, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := session.NewMemoryStore(session.MemoryOptions{})
			defer store.Close()
			e := newBackchannelEnvWith(t, store, interval)
			if code, body := e.post(e.iss.sign(t, e.iss.key, e.claims(nil))); code != http.StatusOK {
				t.Fatalf("logout token under k1: %d %s", code, body)
			}
			fetched := time.Now()
			if n := e.iss.jwksFetches(); n != 1 {
				t.Fatalf("JWKS fetches after the first token: %d, want 1", n)
			}
			keys := map[string]*rsa.PrivateKey{"k2": newKey}
			if tc.keepOld {
				keys["k1"] = e.iss.key
			}
			e.iss.publish(keys)

			code, body := e.post(e.iss.signAs(t, newKey, "k2", e.claims(nil)))
			if time.Since(fetched) < interval {
				if code != http.StatusBadRequest || e.iss.jwksFetches() != 1 {
					t.Errorf("k2 within the interval: %d %s after %d JWKS fetches, want 400 and no new fetch", code, body, e.iss.jwksFetches())
				}
			}
			time.Sleep(time.Until(fetched.Add(interval + 100*time.Millisecond)))
			if code, body := e.post(e.iss.signAs(t, newKey, "k2", e.claims(nil))); code != http.StatusOK {
				t.Fatalf("k2 after the interval: %d %s, want 200", code, body)
			}
			if n := e.iss.jwksFetches(); n != 2 {
				t.Errorf("JWKS fetches once the rotation was picked up: %d, want 2", n)
			}
			if code, body := e.post(e.iss.signAs(t, newKey, "k2", e.claims(nil))); code != http.StatusOK || e.iss.jwksFetches() != 2 {
				t.Errorf("k2 once known: %d %s after %d fetches, want 200 and no new fetch", code, body, e.iss.jwksFetches())
			}
			if code, body := e.post(e.iss.sign(t, e.iss.key, e.claims(nil))); code != tc.oldAfter {
				t.Errorf("k1 after the rotation: %d %s, want %d", code, body, tc.oldAfter)
			}
		})
	}
}

// Each client IP may make DefaultBackchannelLogoutsPerMinute requests to
// the back-channel logout endpoint a minute, refused ones included; past
// that it gets 429 with Retry-After, even for a good token, while another
// address is served.
func TestBackchannelLogoutLimitedPerClient(t *testing.T) {
	const budget = proxy.DefaultBackchannelLogoutsPerMinute
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		spend func(e *backchannelEnv) (int, string)
		want  int
	}{
		{"malformed tokens", func(e *backchannelEnv) (int, string) {
			code, _, body := e.postFrom("127.0.0.2", "not-a-jwt")
			return code, body
		}, http.StatusBadRequest},
		{"forged tokens", func(e *backchannelEnv) (int, string) {
			code, _, body := e.postFrom("127.0.0.2", e.iss.signAs(t, other, "k1", e.claims(nil)))
			return code, body
		}, http.StatusBadRequest},
		{"good tokens", func(e *backchannelEnv) (int, string) {
			code, _, body := e.postFrom("127.0.0.2", e.iss.sign(t, e.iss.key, e.claims(nil)))
			return code, body
		}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := session.NewMemoryStore(session.MemoryOptions{})
			defer store.Close()
			e := newBackchannelEnv(t, store)
			for i := range budget {
				if code, body := tc.spend(e); code != tc.want {
					t.Fatalf("request %d within the budget: %d %s, want %d", i+1, code, body, tc.want)
				}
			}
			code, h, body := e.postFrom("127.0.0.2", e.iss.sign(t, e.iss.key, e.claims(nil)))
			if code != http.StatusTooManyRequests || !strings.Contains(body, `"error"`) {
				t.Fatalf("a good token past the budget: %d %s, want 429", code, body)
			}
			if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 || s > 60 {
				t.Errorf("Retry-After %q, want 1..60 seconds", h.Get("Retry-After"))
			}
			if logs := e.logs.String(); !strings.Contains(logs, `"msg":"back-channel logout refused: too many requests from this address"`) ||
				!strings.Contains(logs, `"client_ip":"127.0.0.2"`) {
				t.Errorf("no log line names the limited address:\n%s", logs)
			}
			bob := e.signedIn("bob-1", "app-client", "bob", "idp-session-bob")
			code, _, body = e.postFrom("127.0.0.3", e.iss.sign(t, e.iss.key, e.claims(func(c map[string]any) { c["sid"] = "idp-session-bob" })))
			if code != http.StatusOK {
				t.Fatalf("another address: %d %s, want 200", code, body)
			}
			if e.served(bob) {
				t.Error("the logout from another address did not end the session")
			}
		})
	}
}

// When the issuer's JWKS cannot be fetched, tokens are refused, not let
// through; the outpost tries again no sooner than the interval allows and
// then accepts the issuer's tokens.
func TestKeysUnavailableRefuseTokens(t *testing.T) {
	const interval = 2 * time.Second
	store := session.NewMemoryStore(session.MemoryOptions{})
	defer store.Close()
	e := newBackchannelEnvWith(t, store, interval)
	alice := e.signedIn("alice-1", "app-client", "alice", "idp-session-1")
	e.iss.jwksDown(true)
	for i := range 5 {
		if code, body := e.post(e.iss.sign(t, e.iss.key, e.claims(nil))); code != http.StatusBadRequest {
			t.Fatalf("logout token %d while the JWKS is down: %d %s, want 400", i, code, body)
		}
	}
	tried := time.Now()
	if n := e.iss.jwksFetches(); n != 1 {
		t.Errorf("JWKS fetches while it is down: %d, want 1", n)
	}
	if !e.served(alice) {
		t.Fatal("a logout token no key verified ended a session")
	}
	e.iss.jwksDown(false)
	time.Sleep(time.Until(tried.Add(interval + 100*time.Millisecond)))
	if code, body := e.post(e.iss.sign(t, e.iss.key, e.claims(nil))); code != http.StatusOK {
		t.Fatalf("logout token once the JWKS is back: %d %s, want 200", code, body)
	}
	if e.served(alice) {
		t.Error("the session is still served after the logout")
	}
}
