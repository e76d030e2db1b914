package proxy_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

// hopByHopRows are requests of a signed-in client ({C}: its session's
// Cookie line, {A}: alice's app password as Basic credentials) that name
// the outpost's identity headers, the injected Authorization and an
// additionalHeaders name in Connection, in every spelling: a proxy drops
// what Connection names, and must not drop what it set itself (issue 21,
// row 8).
var hopByHopRows = []struct{ name, headers string }{
	{"identity, X-Team", "{C}Connection: X-authentik-username, X-Authentik-Groups, X-Authentik-Jwt, X-Team\n"},
	{"Authorization", "{C}Connection: Authorization\n"},
	{"upper and lower case", "{C}Connection: X-AUTHENTIK-USERNAME, x-authentik-groups, authorization, x-team\n"},
	{"two Connection lines", "{C}Connection: keep-alive\nConnection: X-Authentik-Uid, X-Authentik-Email, X-Team, Authorization\n"},
	{"every identity name", "{C}Connection: " + strings.Join(identityNames, ", ") + ", Authorization, X-Team\n"},
	// Not naming Authorization: a reverse proxy in front would drop the
	// client's own credentials.
	{"with an app password", "Authorization: {A}\nConnection: X-Authentik-Username, X-Authentik-Jwt, X-Team\n"},
	{"with a websocket upgrade", "{C}Connection: Upgrade, X-Authentik-Username, Authorization, X-Team\nUpgrade: websocket\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"},
}

var identityNames = []string{
	"X-Authentik-Username", "X-Authentik-Groups", "X-Authentik-Entitlements", "X-Authentik-Email",
	"X-Authentik-Name", "X-Authentik-Uid", "X-Authentik-Jwt", "X-Authentik-Meta-Jwks",
	"X-Authentik-Meta-Outpost", "X-Authentik-Meta-Provider", "X-Authentik-Meta-App", "X-Authentik-Meta-Version",
}

// checkIdentityArrived asserts that h, what the app received for alice,
// holds her identity, the injected credentials and the additional header.
func checkIdentityArrived(t *testing.T, h http.Header) {
	t.Helper()
	for name, want := range map[string]string{
		"X-Authentik-Username": "alice", "X-Authentik-Groups": "ops", "X-Authentik-Email": "alice@example.com",
		"X-Team":        "red",
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice-basic:s3cret")),
	} {
		if got := h.Get(name); got != want {
			t.Errorf("the app received %s %q, want %q", name, got, want)
		}
	}
	for _, name := range identityNames {
		if _, ok := h[name]; !ok {
			t.Errorf("the app received no %s", name)
		}
	}
	if h.Get("X-Authentik-Jwt") == "" {
		t.Error("the app received no X-Authentik-Jwt")
	}
}

// aliceInjected is alice with Basic credentials to inject and an
// additionalHeaders header.
const aliceInjected = `{basic_user: alice-basic, basic_password: s3cret, additionalHeaders: {X-Team: red}}`

// Row 8 of issue 21 at the outpost: what Connection names is dropped
// before the outpost sets the identity, never after.
func TestConnectionCannotNameIdentityAway(t *testing.T) {
	app := newTunnelApp(t)
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]", upstream: app.URL,
		basicAuth: true, aliceAttributes: aliceInjected})
	c := browser(t)
	readBody(signIn(t, c, getPage(t, c, st.outpost+"/"), "alice", "alice-pw"))
	cookie := cookieLine(t, c, st.outpost)
	addr := strings.TrimPrefix(st.outpost, "http://")
	checkHopByHopRows(t, app, addr, addr, cookie)
}

// checkHopByHopRows sends every hopByHopRows row to addr for host and
// checks what app received.
func checkHopByHopRows(t *testing.T, app *tunnelApp, addr, host, cookie string) {
	t.Helper()
	for _, row := range hopByHopRows {
		t.Run(row.name, func(t *testing.T) {
			name := strings.ReplaceAll(t.Name(), " ", "_")
			hdr := strings.NewReplacer("{C}", "Cookie: "+cookie+"\n", "{A}", basic("alice", "alice-app-pw")).Replace(row.headers)
			raw := strings.ReplaceAll("GET /x HTTP/1.1\nHost: "+host+"\n"+hdr+"X-Row: "+name+"\n\n", "\n", "\r\n")
			status, _ := tunnelAttempt(t, addr, raw, name)
			seen := app.rows(name)
			if len(seen) != 1 {
				t.Fatalf("the app got %d requests (client got %d)", len(seen), status)
			}
			checkIdentityArrived(t, seen[0].h)
		})
	}
}
