package proxy_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Real Caddy with forward_auth, configured with deploy/caddy/outpost.caddy.
func TestCaddyForwardAuth(t *testing.T) {
	bin, err := exec.LookPath("caddy")
	if err != nil {
		t.Fatal("no caddy found: install Debian's caddy package (make test does)")
	}
	deploy, err := filepath.Abs("../deploy/caddy")
	if err != nil {
		t.Fatal(err)
	}
	caddyLn := listen(t)
	caddyAddr := caddyLn.Addr().String()
	caddyLn.Close()

	app, lastSeen := helloApp(t)

	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
		mode: "forward_single", trusted: true, external: "http://" + caddyAddr})

	dir := t.TempDir()
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %[1]s/data
}
import %[2]s/outpost.caddy
http://%[3]s {
	bind 127.0.0.1
	route {
		import authentik_outpost %[4]s
		reverse_proxy %[5]s
	}
}
`, dir, deploy, caddyAddr, strings.TrimPrefix(st.outpost, "http://"), strings.TrimPrefix(app.URL, "http://"))
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	startServer(t, "caddy", cmd, caddyAddr)
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
	}

	readBody(getPage(t, c, site+"/outpost.goauthentik.io/sign_out"))
	resp = getPage(t, c, site+"/reports")
	readBody(resp)
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") {
		t.Errorf("after sign-out: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}
