package proxy_test

import (
	"strings"
	"testing"
)

// Row 8 of issue 21 in forward auth, with the shipped snippets: the
// outpost answers the identity to nginx or Caddy, whose own Connection
// that is; what a client names in its Connection must not drop the
// identity on the way to the app either.
func TestForwardAuthConnectionCannotNameIdentityAway(t *testing.T) {
	for _, front := range []struct {
		name  string
		start func(t *testing.T) func(addr, outpost, app0, app1 string)
	}{
		{"nginx", func(t *testing.T) func(addr, outpost, app0, app1 string) {
			return func(addr, outpost, app0, app1 string) {
				runNginxServers(t, addr, outpost, "../deploy/nginx", nginxServer{app: app0}, nginxServer{name: "app1.localhost", app: app1})
			}
		}},
		{"caddy", func(t *testing.T) func(addr, outpost, app0, app1 string) {
			return func(addr, outpost, app0, app1 string) {
				_, port, _ := strings.Cut(addr, ":")
				runCaddy(t, addr, outpost, caddySite{"http://127.0.0.1:" + port, app0}, caddySite{"http://app1.localhost:" + port, app1})
			}
		}},
	} {
		t.Run(front.name, func(t *testing.T) {
			e := newAttackEnv(t, front.start(t))
			if front.name == "caddy" {
				// The snippet keeps the upgrade token: websockets still
				// reach the app as upgrades, with the identity.
				t.Run("websocket handshake", func(t *testing.T) {
					raw := e.expand("GET /ws HTTP/1.1\nHost: {H0}\nCookie: {C0}\nConnection: keep-alive, Upgrade, X-Authentik-Username\nUpgrade: websocket\n"+
						"Sec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nX-Row: {ROW}\n\n", "ws")
					rawRequest(t, e.addr, raw)
					got := e.app0.got("ws")
					if got == nil || got.Header.Get("Upgrade") != "websocket" || got.Header.Get("X-Authentik-Username") != "alice" {
						t.Fatalf("the app got %v", got)
					}
				})
			}
			for _, conn := range []string{
				"X-authentik-username, X-Authentik-Groups, X-Authentik-Jwt, X-Team",
				"x-authentik-username, X-AUTHENTIK-UID",
				strings.Join(identityNames, ", "),
				"Upgrade, X-Authentik-Username",
			} {
				t.Run(conn, func(t *testing.T) {
					row := strings.ReplaceAll(t.Name(), " ", "_")
					raw := e.expand("GET /x HTTP/1.1\nHost: {H0}\nCookie: {C0}\nConnection: "+conn+"\nX-Row: {ROW}\n\n", row)
					resp, _ := rawRequest(t, e.addr, raw)
					got := e.app0.got(row)
					if got == nil {
						t.Fatalf("the app got nothing (client got %d)", resp.StatusCode)
					}
					for _, name := range identityNames {
						if name == "X-Authentik-Entitlements" {
							// Empty here (no entitlements scope), and nginx
							// sends no header for an empty value.
							continue
						}
						if _, ok := got.Header[name]; !ok {
							t.Errorf("the app received no %s", name)
						}
					}
					if u := got.Header.Get("X-Authentik-Username"); u != "alice" {
						t.Errorf("the app received X-Authentik-Username %q", u)
					}
				})
			}
		})
	}
}
