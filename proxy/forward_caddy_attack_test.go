package proxy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// caddySite is one site block: its address and the app it protects.
type caddySite struct{ site, app string }

// runCaddy runs Caddy with one site per entry, all bound to 127.0.0.1,
// each protected with deploy/caddy/outpost.caddy as operators import it,
// and waits for addr.
func runCaddy(t *testing.T, addr, outpost string, sites ...caddySite) {
	t.Helper()
	bin, err := exec.LookPath("caddy")
	if err != nil {
		t.Fatal("no caddy found: install Debian's caddy package (make test does)")
	}
	deploy, err := filepath.Abs("../deploy/caddy")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var conf strings.Builder
	fmt.Fprintf(&conf, "{\n\tadmin off\n\tauto_https off\n\tstorage file_system %s/data\n}\nimport %s/outpost.caddy\n", dir, deploy)
	for _, s := range sites {
		fmt.Fprintf(&conf, "%s {\n\tbind 127.0.0.1\n\troute {\n\t\timport authentik_outpost %s\n\t\treverse_proxy %s\n\t}\n}\n",
			s.site, outpost, strings.TrimPrefix(s.app, "http://"))
	}
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	startServer(t, "caddy", cmd, addr)
}

// The same attacks through real Caddy with the shipped snippet: Caddy sets
// X-Forwarded-* itself, and answers the client with the outpost's refusal
// (302 to sign in, 301 to the canonical path, 400).
func TestForwardAuthAttacksThroughCaddy(t *testing.T) {
	e := newAttackEnv(t, func(addr, outpost, app0, app1 string) {
		_, port, _ := strings.Cut(addr, ":")
		runCaddy(t, addr, outpost, caddySite{"http://127.0.0.1:" + port, app0}, caddySite{"http://app1.localhost:" + port, app1})
	})
	for _, row := range []struct {
		name, req string
		status    int
		canonical string
	}{
		{"client X-Forwarded-Uri on a skipped path", anon("/secret", "X-Forwarded-Uri: /public/x\n"), 302, ""},
		{"client X-Forwarded-Uri in the reserved prefix", anon("/secret", "X-Forwarded-Uri: /outpost.goauthentik.io/x\n"), 302, ""},
		{"client X-Forwarded-Uri twice", anon("/secret", "X-Forwarded-Uri: /public/x\nX-Forwarded-Uri: /public/y\n"), 302, ""},
		{"client X-Forwarded-Proto and -Method", anon("/secret", "X-Forwarded-Proto: https\nX-Forwarded-Method: OPTIONS\n"), 302, ""},
		{"client X-Original-URL and -URI", anon("/secret", "X-Original-URL: http://{H0}/public/x\nX-Original-URI: /public/x\n"), 302, ""},
		{"app1's session with X-Forwarded-Host app1 on app0's site",
			"GET /secret HTTP/1.1\nHost: {H0}\nX-Forwarded-Host: {H1}\nCookie: {C1}\nAccept: text/html\nX-Row: {ROW}\n\n", 302, ""},
		{"app1's session, absolute-form target at app0, Host app1",
			"GET http://{H0}/secret HTTP/1.1\nHost: {H1}\nCookie: {C1}\nAccept: text/html\nX-Row: {ROW}\n\n", 302, ""},
		{"encoded slash onto a skipped path", anon("/public%2Fsecret", ""), 400, ""},
		{"encoded backslash", anon("/public%5Csecret", ""), 400, ""},
		{"doubled slash", anon("//secret", ""), 301, "/secret"},
		{"dot segment out of a skipped path", anon("/public/../secret", ""), 301, "/secret"},
		{"encoded dot segment out of a skipped path", anon("/public/%2e%2e/secret", ""), 301, "/secret"},
	} {
		t.Run(row.name, func(t *testing.T) {
			resp, body := rawRequest(t, e.addr, e.expand(row.req, row.name))
			if resp.StatusCode != row.status {
				t.Errorf("status %d, want %d (Location %q): %.200s", resp.StatusCode, row.status, resp.Header.Get("Location"), body)
			}
			if row.canonical != "" && resp.Header.Get("Location") != "http://"+e.h0+row.canonical {
				t.Errorf("redirected to %q, want the canonical %s", resp.Header.Get("Location"), row.canonical)
			}
			for name, app := range map[string]*rowApp{"app0": e.app0, "app1": e.app1} {
				if got := app.got(row.name); got != nil {
					t.Errorf("%s received %s as %q", name, got.URL, got.Header.Get("X-Authentik-Username"))
				}
			}
		})
	}

	// Signed in, with every identity name forged in every spelling a
	// CGI/WSGI app reads as the same: only the outpost's values arrive.
	const row = "signed in, every spelling of the identity names"
	var forged strings.Builder
	for _, name := range []string{"Username", "Groups", "Email", "Meta_Provider", "Meta-Jwks", "Meta-Outpost", "Meta_Version"} {
		for _, sep := range [][2]string{{"-", "-"}, {"_", "_"}, {"-", "_"}, {"_", "-"}} {
			fmt.Fprintf(&forged, "X%sauthentik%s%s: forged\n", sep[0], sep[1], strings.ReplaceAll(name, "_", sep[1]))
		}
	}
	forged.WriteString("X-AUTHENTIK-UID: forged\nx_authentik_name: forged\nX_AUTHENTIK_JWT: forged\nx-authentik-meta-app: forged\n")
	forged.WriteString("X.Authentik.Username: forged\nX~authentik-Email: forged\nX+Authentik+Meta+App: forged\n")
	resp, body := rawRequest(t, e.addr, e.expand("GET /page HTTP/1.1\nHost: {H0}\nCookie: {C0}\nX-Row: {ROW}\n"+forged.String()+"\n", row))
	if resp.StatusCode != 200 {
		t.Fatalf("signed in: %d %s", resp.StatusCode, body)
	}
	got := e.app0.got(row)
	if got == nil {
		t.Fatal("app0 received nothing")
	}
	for name, v := range got.Header {
		if strings.Contains(strings.Join(v, ","), "forged") {
			t.Errorf("app0 received %s: %q", name, v)
		}
	}
	if got.Header.Get("X-Authentik-Username") != "alice" {
		t.Errorf("app0 saw X-Authentik-Username %q", got.Header.Values("X-Authentik-Username"))
	}
	e.noEvents(t)
}

// Rules per method through real Caddy and real nginx, with the shipped
// files: the method's letter case does not step around a rule for POST
// (issue 20, row 1). Caddy passes "post" on (X-Forwarded-Method: post);
// nginx refuses a method that is not upper case itself.
func TestMethodRulesThroughCaddyAndNginx(t *testing.T) {
	f := frontedPair(t, "methods")
	issuer, app, caddyAddr, nginxAddr := f.issuer, f.app, f.caddyAddr, f.nginxAddr

	for _, c := range []struct {
		via, user, method string
		want              int
	}{
		{"caddy", "olga", "POST", 403},
		{"caddy", "olga", "post", 403},
		{"caddy", "olga", "Delete", 403},
		{"caddy", "ada", "post", 200},
		{"caddy", "olga", "GET", 200},
		{"nginx", "olga", "POST", 403},
		{"nginx", "olga", "post", 400},
		{"nginx", "ada", "POST", 200},
	} {
		row := c.via + " " + c.user + " " + c.method
		t.Run(row, func(t *testing.T) {
			addr := caddyAddr
			if c.via == "nginx" {
				addr = nginxAddr
			}
			req := fmt.Sprintf("%s /api/v2/silences HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\nX-Row: %s\r\n\r\n",
				c.method, addr, issuer.Token(c.user, c.via+"-client", time.Hour), row)
			resp, body := rawRequest(t, addr, req)
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d: %.200s", resp.StatusCode, c.want, body)
			}
			got := app.got(row)
			switch {
			case c.want == 200 && (got == nil || got.Header.Get("X-Authentik-Username") != c.user):
				t.Errorf("the app did not get the request as %s: %v", c.user, got)
			case c.want != 200 && got != nil:
				t.Errorf("the app received %s %s", got.Method, got.URL)
			}
		})
	}
}
