package proxy_test

import (
	"cmp"
	"strings"
	"testing"

	"github.com/outpost-dev/outpost/proxy"
)

// A header the core's additionalHeaders attribute sets as identity never
// reaches the app with a client's value (issue 20, row 3): X-Role is
// declared (OUTPOST_AUTH__ADDITIONAL_HEADERS), Remote-User is learned from
// alice's first request. The client controls every header of its request,
// the letter case of the names and the characters in them, and whether it
// is signed in; each is a row, and each asserts what the app received.
func TestAdditionalHeadersNeverComeFromClients(t *testing.T) {
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
		aliceAttributes:   `{additionalHeaders: {X-Role: core-role, Remote-User: alice-at-core}}`,
		additionalHeaders: []string{"x-role"}})
	addr := strings.TrimPrefix(st.outpost, "http://")
	alice := basic("alice", "alice-app-pw")
	// seen sends a raw request and returns what the app received of the
	// identity headers under test ("-" when the app was not reached).
	seen := func(t *testing.T, raw string) (role, remote string) {
		t.Helper()
		before := st.upstreamCount()
		resp, _ := rawRequest(t, addr, raw)
		if st.upstreamCount() == before {
			return "-", "-"
		}
		if resp.StatusCode != 200 {
			t.Errorf("the app answered %d", resp.StatusCode)
		}
		got := st.lastUpstream(t).Header
		return strings.Join(got.Values("X-Role"), ","), strings.Join(got.Values("Remote-User"), ",")
	}
	req := func(path string, header ...string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + strings.Join(header, "\r\n") + "\r\nConnection: close\r\n\r\n"
	}

	// Declared: removed from the first request on, before anyone signed in.
	for _, tc := range []struct{ name, raw string }{
		{"anonymous on a skipped path", req("/public/x", "X-Role: admin")},
		{"lower-case name", req("/public/x", "x-role: admin")},
		{"upper-case name", req("/public/x", "X-ROLE: admin")},
		{"underscore for a CGI gateway", req("/public/x", "X_Role: admin")},
		{"dot for a CGI gateway", req("/public/x", "X.Role: admin")},
		{"twice", req("/public/x", "X-Role: admin", "X-Role: root")},
	} {
		t.Run("declared/"+tc.name, func(t *testing.T) {
			if role, _ := seen(t, tc.raw); role != "" {
				t.Errorf("the app received X-Role %q from the client", role)
			}
		})
	}

	// alice's own request: the core's values win over hers.
	t.Run("alice sends her own values", func(t *testing.T) {
		role, remote := seen(t, req("/x", "Authorization: "+alice, "X-Role: admin", "Remote-User: root"))
		if role != "core-role" || remote != "alice-at-core" {
			t.Errorf("the app received X-Role %q, Remote-User %q; want the core's", role, remote)
		}
	})

	// Learned from alice's request: removed from everyone else's now.
	c := browser(t)
	resp := signIn(t, c, getPage(t, c, st.outpost+"/"), "mallory", "mallory-pw")
	resp.Body.Close()
	cookie := sessionCookie(t, c, st.outpost)
	for _, tc := range []struct{ name, raw string }{
		{"anonymous on a skipped path", req("/public/x", "Remote-User: alice-at-core", "X-Role: core-role")},
		{"lower-case name", req("/public/x", "remote-user: alice-at-core")},
		{"signed-in user without the attribute", req("/x", "Cookie: "+cookie.Name+"="+cookie.Value, "Remote-User: alice-at-core", "X-Role: core-role")},
	} {
		t.Run("learned/"+tc.name, func(t *testing.T) {
			role, remote := seen(t, tc.raw)
			if role != "" || remote != "" {
				t.Errorf("the app received X-Role %q, Remote-User %q from the client", role, remote)
			}
		})
	}
}

// OUTPOST_AUTH__ADDITIONAL_HEADERS takes only names a client may not
// need to send.
func TestCheckAdditionalHeaderName(t *testing.T) {
	for name, ok := range map[string]bool{
		"X-Role": true, "remote-user": true, "X-Webauth-User": true,
		"Cookie": false, "authorization": false, "Content-Type": false, "Host": false,
		"X_Role": false, "X.Role": false, "": false, "X Role": false, "X-Authentik-Username": false,
	} {
		// t.Run reads a space as "_": spelled out, "X Role" and "X_Role"
		// stay two names.
		t.Run(strings.ReplaceAll(cmp.Or(name, "(empty)"), " ", "(space)"), func(t *testing.T) {
			if err := proxy.CheckAdditionalHeaderName(name); (err == nil) != ok {
				t.Errorf("CheckAdditionalHeaderName(%q) = %v, want ok=%v", name, err, ok)
			}
		})
	}
}
