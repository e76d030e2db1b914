package proxy_test

import (
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/internal/testissuer"
)

// Sign-out at a standalone issuer that supports RP-initiated logout sends
// post_logout_redirect_uri, and the issuer brings the person back to the
// outpost's signed-out page; without one, the outpost's own page answers.
func TestSignOutLandsOnTheSignedOutPage(t *testing.T) {
	for _, endSession := range []bool{true, false} {
		name := "issuer without end_session_endpoint"
		if endSession {
			name = "issuer with end_session_endpoint"
		}
		t.Run(name, func(t *testing.T) {
			// Before the outpost discovers the issuer, at load.
			s := newAuthzStackWith(t, func(is *testissuer.Issuer) {
				if endSession {
					is.AdvertiseEndSession()
				}
			})
			c := browser(t)
			resp := signIn(t, c, getPage(t, c, s.outpost+"/graph"), "olga", "pw")
			if body := readBody(resp); resp.StatusCode != 200 || !strings.Contains(body, `as "olga"`) {
				t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
			}
			resp = getPage(t, c, s.outpost+"/outpost.goauthentik.io/sign_out")
			body := readBody(resp)
			if resp.StatusCode != 200 || !strings.Contains(body, "<h1>Signed out</h1>") || !strings.Contains(body, `id="sign-in"`) {
				t.Errorf("after sign-out: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
			}
			logouts := s.issuer.Logouts()
			if !endSession {
				if len(logouts) != 0 {
					t.Errorf("logouts at an issuer that has none: %v", logouts)
				}
				return
			}
			if resp.Request.URL.String() != s.outpost+"/outpost.goauthentik.io/signed_out" {
				t.Errorf("landed at %s", resp.Request.URL)
			}
			if len(logouts) != 1 || logouts[0].Get("post_logout_redirect_uri") != s.outpost+"/outpost.goauthentik.io/signed_out" ||
				logouts[0].Get("id_token_hint") == "" || logouts[0].Get("client_id") != "prom-client" {
				t.Errorf("logout query: %v", logouts)
			}
		})
	}
}
