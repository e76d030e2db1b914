package proxy_test

import (
	"net/http"
	"strings"
	"testing"
)

// Real Caddy with forward_auth, configured with deploy/caddy/outpost.caddy.
func TestCaddyForwardAuth(t *testing.T) {
	caddyLn := reserve(t)
	caddyAddr := caddyLn.Addr().String()
	caddyLn.Close()

	app, lastSeen := helloApp(t)

	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
		mode: "forward_single", trusted: true, external: "http://" + caddyAddr})
	runCaddy(t, caddyAddr, strings.TrimPrefix(st.outpost, "http://"), caddySite{"http://" + caddyAddr, app.URL})
	site := "http://" + caddyAddr

	c := browser(t)
	resp := getPage(t, c, site+"/reports?week=47")
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") {
		t.Fatalf("not sent to sign in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp = signIn(t, c, resp, "alice", "alice-pw")
	body := readBody(resp)
	if resp.StatusCode != 200 || resp.Request.URL.String() != site+"/reports?week=47" || body != `app says hello to "alice"` {
		t.Fatalf("after sign-in: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}

	// Forged identity, signed in and on a skipped path: never reaches the app.
	for _, path := range []string{"/again", "/public/logo.png"} {
		t.Run(path, func(t *testing.T) {
			req, _ := http.NewRequest("GET", site+path, nil)
			req.Header.Set("X-Authentik-Username", "admin")
			req.Header["X_Authentik_Username"] = []string{"admin"}
			client := &http.Client{}
			if path == "/again" {
				client.Jar = c.Jar
			}
			r, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(r)
			if r.StatusCode != 200 {
				t.Fatalf("%s: %d", path, r.StatusCode)
			}
			got := lastSeen()
			want := "alice"
			if path != "/again" {
				want = ""
			}
			if v := got.Header.Values("X-Authentik-Username"); len(v) > 1 || got.Header.Get("X-Authentik-Username") != want {
				t.Errorf("%s: app saw X-Authentik-Username %q, want %q", path, v, want)
			}
			if _, ok := got.Header["X_Authentik_Username"]; ok {
				t.Errorf("%s: underscore variant reached the app", path)
			}
		})
	}

	readBody(getPage(t, c, site+"/outpost.goauthentik.io/sign_out"))
	resp = getPage(t, c, site+"/reports")
	readBody(resp)
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") {
		t.Errorf("after sign-out: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}
