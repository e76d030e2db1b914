package proxy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/outpost-dev/outpost/assertion"
)

// Forward modes through real nginx and Caddy with the shipped snippets:
// the app receives the outpost's assertion (verified against the JWKS on
// the app's own host, under the reserved prefix the snippets route to the
// outpost), never a client's, in any spelling; on a skipped path none.
func TestForwardAssertionThroughNginxAndCaddy(t *testing.T) {
	for _, proxyName := range []string{"nginx", "caddy"} {
		t.Run(proxyName, func(t *testing.T) {
			e := newAttackEnvWith(t, stackOptions{assertion: assertionOn(0, 0)}, func(addr, outpost, app0, app1 string) {
				if proxyName == "nginx" {
					runNginxServers(t, addr, outpost, "../deploy/nginx",
						nginxServer{name: "127.0.0.1", app: app0}, nginxServer{name: "app1.localhost", app: app1})
					return
				}
				_, port, _ := strings.Cut(addr, ":")
				runCaddy(t, addr, outpost, caddySite{"http://127.0.0.1:" + port, app0}, caddySite{"http://app1.localhost:" + port, app1})
			})
			origin := "http://" + e.h0
			v := oidc.NewVerifier(origin, oidc.NewRemoteKeySet(context.Background(), origin+"/outpost.goauthentik.io/jwks"),
				&oidc.Config{ClientID: origin, SupportedSigningAlgs: []string{"ES256"}})
			forged := forgedAssertion(t)
			for _, name := range []string{"X-Outpost-Jwt-Assertion", "x-outpost-jwt-assertion", "X-OUTPOST-JWT-ASSERTION", "X_Outpost_Jwt_Assertion", "X.Outpost.Jwt.Assertion", "X-Outpost_Jwt-Assertion"} {
				for _, signedIn := range []bool{true, false} {
					row := name + " anonymous"
					req := anon("/public/x", name+": "+forged+"\n")
					if signedIn {
						row = name + " signed in"
						req = "GET /page HTTP/1.1\nHost: {H0}\nCookie: {C0}\nX-Row: {ROW}\n" + name + ": " + forged + "\n" + name + ": " + forged + "\n\n"
					}
					t.Run(row, func(t *testing.T) {
						resp, body := rawRequest(t, e.addr, e.expand(req, row))
						if resp.StatusCode != 200 {
							t.Fatalf("status %d: %.200s", resp.StatusCode, body)
						}
						got := e.app0.got(row)
						if got == nil {
							t.Fatal("app0 received nothing")
						}
						for h, vals := range got.Header {
							for _, val := range vals {
								if val == forged {
									t.Errorf("the client's assertion reached the app as %s", h)
								}
							}
						}
						toks := got.Header.Values(assertion.DefaultHeader)
						if !signedIn {
							if len(toks) > 0 && toks[0] != "" {
								t.Errorf("a skipped path got an assertion %q", toks)
							}
							return
						}
						if len(toks) != 1 {
							t.Fatalf("app0 received %d assertions", len(toks))
						}
						idt, err := v.Verify(context.Background(), toks[0])
						if err != nil {
							t.Fatalf("the app cannot verify the outpost's assertion: %v", err)
						}
						var c struct {
							Username string `json:"preferred_username"`
						}
						if err := idt.Claims(&c); err != nil || c.Username != "alice" {
							t.Errorf("assertion for %q, want alice", c.Username)
						}
					})
				}
			}
		})
	}
}
