package proxy

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestStripIdentityHeaders(t *testing.T) {
	h := http.Header{}
	// Raw map writes keep the odd spellings a client can send on the wire.
	for _, name := range []string{"X-Authentik-Username", "x-authentik-username", "X-AUTHENTIK-GROUPS",
		"X_Authentik_Username", "x_authentik_username", "X-Authentik_Uid", "Some_Header", "X-Authentik-Meta-Anything"} {
		h[name] = []string{"admin"}
	}
	h.Set("Accept", "text/html")
	h.Set("X-Forwarded-For", "1.2.3.4")
	stripIdentityHeaders(h)
	if len(h) != 2 || h.Get("Accept") == "" || h.Get("X-Forwarded-For") == "" {
		t.Errorf("after strip: %v", h)
	}
}

func TestSetIdentityHeaders(t *testing.T) {
	claims := map[string]any{
		"sub": "abc123", "preferred_username": "alice", "email": "alice@example.com", "name": "Alice",
		"groups": []any{"ops", "admins", 7}, "entitlements": []any{"read"},
		"ak_proxy": map[string]any{"user_attributes": map[string]any{
			"pw": "hunter2", "login": "alice-basic",
			"additionalHeaders": map[string]any{"X-Team": "platform", "x-number": 3, "Bad_Name": "x", "Bad Name": "y"},
		}},
	}
	h := http.Header{}
	setIdentityHeaders(h, claims, identityInfo{
		RawToken: "tok", JWKS: "https://core/jwks/", Outpost: "edge", Provider: "prom", App: "prometheus",
		Version:          "goauthentik.io/outpost/0.1.0",
		BasicAuthEnabled: true, BasicAuthUserAttribute: "login", BasicAuthPasswordAttribute: "pw",
	})
	want := map[string]string{
		"X-Authentik-Username": "alice", "X-Authentik-Groups": "ops|admins", "X-Authentik-Entitlements": "read",
		"X-Authentik-Email": "alice@example.com", "X-Authentik-Name": "Alice", "X-Authentik-Uid": "abc123",
		"X-Authentik-Jwt": "tok", "X-Authentik-Meta-Jwks": "https://core/jwks/", "X-Authentik-Meta-Outpost": "edge",
		"X-Authentik-Meta-Provider": "prom", "X-Authentik-Meta-App": "prometheus",
		"X-Authentik-Meta-Version": "goauthentik.io/outpost/0.1.0",
		"X-Team":                   "platform", "X-Number": "",
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice-basic:hunter2")),
	}
	for k, v := range want {
		if got, ok := h[k]; !ok || len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(h) != len(want) {
		t.Errorf("extra headers: %v", h)
	}
}

func TestSetIdentityHeadersMinimalClaims(t *testing.T) {
	h := http.Header{}
	// No ak_proxy, groups as a bare string, additionalHeaders not an object:
	// every header is still set, nothing crashes, nothing is guessed.
	setIdentityHeaders(h, map[string]any{"sub": "x", "groups": "admins"}, identityInfo{BasicAuthEnabled: true})
	for _, name := range identityHeaderNames {
		if _, ok := h[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	if h.Get("X-Authentik-Groups") != "" || h.Get("Authorization") != "" {
		t.Errorf("guessed values: %v", h)
	}
	h = http.Header{}
	setIdentityHeaders(h, map[string]any{"ak_proxy": map[string]any{"user_attributes": map[string]any{"additionalHeaders": "x"}}}, identityInfo{})
	if len(h) != len(identityHeaderNames) {
		t.Errorf("non-object additionalHeaders produced headers: %v", h)
	}
	// Basic auth falls back to email for the user, and needs a password.
	h = http.Header{}
	setIdentityHeaders(h, map[string]any{"email": "e@x", "ak_proxy": map[string]any{"user_attributes": map[string]any{"pw": "p"}}},
		identityInfo{BasicAuthEnabled: true, BasicAuthPasswordAttribute: "pw", BasicAuthUserAttribute: "missing"})
	if got := h.Get("Authorization"); got != "Basic "+base64.StdEncoding.EncodeToString([]byte("e@x:p")) {
		t.Errorf("basic auth fallback: %q", got)
	}
}

func FuzzStripIdentityHeaders(f *testing.F) {
	f.Add("X-Authentik-Username")
	f.Add("x_authentik_uid")
	f.Add("X-AuThEnTiK")
	f.Add("X.Authentik.Username")
	f.Add("x~authentik+meta+app")
	f.Fuzz(func(t *testing.T, name string) {
		h := http.Header{name: {"v"}}
		stripIdentityHeaders(h)
		req := http.Header{}
		for k, v := range h {
			req[http.CanonicalHeaderKey(k)] = v
		}
		// Whatever survives must not be readable as an identity header,
		// also by a CGI gateway that folds every other character to "_".
		for _, id := range identityHeaderNames {
			if req.Get(id) != "" {
				t.Fatalf("%q survived as %s", name, id)
			}
			for k := range req {
				if cgiName(k) == cgiName(id) {
					t.Fatalf("%q survived, read by CGI as %s", name, id)
				}
			}
		}
	})
}

// For any claims a standalone issuer sends, the app gets the twelve
// identity headers (and Basic credentials when enabled), never a header the
// claims named.
func FuzzStandaloneIdentityHeaders(f *testing.F) {
	f.Add(`{"sub":"x","ak_proxy":{"user_attributes":{"additionalHeaders":{"X-Role":"admin","X-Authentik-Username":"alice"}}}}`, true)
	f.Add(`{"preferred_username":"a","groups":["g"],"login":"a","pw":"p"}`, true)
	f.Add(`{"ak_proxy":{"backend_override":"http://x"}}`, false)
	f.Fuzz(func(t *testing.T, js string, basic bool) {
		var claims map[string]any
		if json.Unmarshal([]byte(js), &claims) != nil || claims == nil {
			return
		}
		h := http.Header{}
		setIdentityHeaders(h, claims, identityInfo{Standalone: true, BasicAuthEnabled: basic,
			BasicAuthUserAttribute: "login", BasicAuthPasswordAttribute: "pw"})
		for name := range h {
			if !slices.Contains(identityHeaderNames, name) && !(basic && name == "Authorization") {
				t.Fatalf("claims %s set header %s", js, name)
			}
		}
		if got := h.Get("X-Authentik-Username"); got != claimString(claims, "preferred_username") {
			t.Fatalf("username %q from claims %s", got, js)
		}
	})
}

// cgiName is a header's CGI variable name: upper case, every character
// other than a letter or digit as "_".
func cgiName(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return "HTTP_" + string(b)
}
