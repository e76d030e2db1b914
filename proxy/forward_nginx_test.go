package proxy_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/outpost-dev/outpost/internal/nginxtest"
)

// nginxBinary finds Debian's nginx, which `make test` installs.
func nginxBinary(t *testing.T) string {
	bin, err := nginxtest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// Real nginx with auth_request, configured with the files operators copy
// from deploy/nginx, in front of an app; the outpost answers its auth
// requests.
func TestNginxAuthRequest(t *testing.T) {
	nginxLn := reserve(t)
	nginxAddr := nginxLn.Addr().String()
	nginxLn.Close() // nginx binds it itself

	app, lastSeen := helloApp(t)

	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
		mode: "forward_single", trusted: true, external: "http://" + nginxAddr})
	runNginx(t, nginxAddr, strings.TrimPrefix(st.outpost, "http://"), app.URL)
	site := "http://" + nginxAddr

	// An anonymous browser is sent to sign in, signs in at the core, and
	// comes back to the page it asked for; the app sees who it is, not the
	// name the client tried to claim.
	c := browser(t)
	resp := getPage(t, c, site+"/reports?week=47", "X-Authentik-Username", "admin")
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") {
		t.Fatalf("not sent to sign in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp = signIn(t, c, resp, "alice", "alice-pw")
	body := readBody(resp)
	if resp.StatusCode != 200 || resp.Request.URL.String() != site+"/reports?week=47" || body != `app says hello to "alice"` {
		t.Fatalf("after sign-in: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	req, _ := http.NewRequest("GET", site+"/again", nil)
	req.Header.Set("X-Authentik-Username", "admin")
	req.Header["X_Authentik_Username"] = []string{"admin"}
	for _, ck := range c.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := readBody(r2); b != `app says hello to "alice"` {
		t.Errorf("forged username: app got %q", b)
	}
	last := lastSeen()
	if got := last.Header.Values("X-Authentik-Username"); len(got) != 1 || got[0] != "alice" || last.Header.Get("X-Authentik-Email") != "alice@example.com" {
		t.Errorf("identity at the app: %v", last.Header)
	}
	if _, ok := last.Header["X_authentik_username"]; ok {
		t.Error("underscore variant reached the app")
	}

	// Machines behind nginx: a token passes with its identity; without one,
	// or with a bad one, the 401 and its challenge, not the sign-in page.
	tok, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
	for _, c := range []struct {
		name, auth, accept string
		status             int
		challenge          string
	}{
		{"token", "Bearer " + tok, "", 200, ""},
		{"app password", basic("alice", "alice-app-pw"), "", 200, ""},
		{"curl without credentials", "", "*/*", 401, `Bearer realm=`},
		{"bad token", "Bearer " + tok + "x", "text/html", 401, `error="invalid_token"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", site+"/api/data", nil)
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			req.Header.Set("Accept", c.accept)
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			if resp.StatusCode != c.status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), c.challenge) {
				t.Errorf("%s: %d %q %s", c.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
			}
			if c.status == 200 && body != `app says hello to "alice"` {
				t.Errorf("%s: app got %q", c.name, body)
			}
		})
	}

	// Sign-out through nginx ends the session: the next visit signs in again.
	readBody(getPage(t, c, site+"/outpost.goauthentik.io/sign_out"))
	resp = getPage(t, c, site+"/reports")
	readBody(resp)
	if !strings.HasPrefix(resp.Request.URL.String(), st.core+"/application/o/authorize/") {
		t.Errorf("after sign-out: %d at %s", resp.StatusCode, resp.Request.URL)
	}
}

// runNginx serves the app at appURL on nginxAddr behind the outpost at
// outpostAddr, with the files operators copy from deploy/nginx and the
// upstream block they are told to write.
func runNginx(t *testing.T, nginxAddr, outpostAddr, appURL string) {
	t.Helper()
	runNginxServers(t, nginxAddr, outpostAddr, "../deploy/nginx", nginxServer{app: appURL})
}

// nginxServer is one server block: its server_name ("" for none) and the
// app it protects; with cert and key (PEM files) it serves HTTPS.
type nginxServer struct{ name, app, cert, key string }

// runNginxServers runs nginx on nginxAddr with one server block per server
// (the first is the default server), each protected with the two snippets
// in snippets (deploy/nginx, or a test fixture with the same two files).
func runNginxServers(t *testing.T, nginxAddr, outpostAddr, snippets string, servers ...nginxServer) {
	t.Helper()
	bin := nginxBinary(t)
	deploy, err := filepath.Abs(snippets)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var blocks strings.Builder
	for i, s := range servers {
		listen := nginxAddr
		if i == 0 {
			listen += " default_server"
		}
		name := ""
		if s.name != "" {
			name = "server_name " + s.name + ";"
		}
		if s.cert != "" {
			listen += " ssl"
			name += fmt.Sprintf("\n        ssl_certificate %s;\n        ssl_certificate_key %s;", s.cert, s.key)
		}
		fmt.Fprintf(&blocks, `    server {
        listen %[1]s;
        %[2]s
        include %[3]s/outpost-locations.conf;
        location / {
            include %[3]s/outpost-auth.conf;
            proxy_pass %[4]s;
        }
    }
`, listen, name, deploy, s.app)
	}
	conf := nginxtest.Config(dir, "stderr", 64, fmt.Sprintf("    upstream outpost { server %s; keepalive 128; }\n%s", outpostAddr, blocks.String()))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	startServer(t, "nginx", cmd, nginxAddr)
}

// nginx asks the outpost once for every request to the app; with the
// shipped snippets and the documented keepalive it asks over connections it
// keeps, instead of opening one per request.
func TestNginxKeepsConnectionsToTheOutpost(t *testing.T) {
	nginxLn := reserve(t)
	nginxAddr := nginxLn.Addr().String()
	nginxLn.Close()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app says hello to %q", r.Header.Get("X-Authentik-Username"))
	}))
	defer app.Close()
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, ak_proxy]",
		mode: "forward_single", trusted: true, external: "http://" + nginxAddr})
	relay, conns := countingRelay(t, strings.TrimPrefix(st.outpost, "http://"))
	runNginx(t, nginxAddr, relay, app.URL)

	tok, _ := appToken(t, st, "app-client", "alice", "alice-app-pw")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Signed in, not signed in (the outpost's 401 becomes nginx's redirect
	// to sign in) and a machine client with a bad token (its 401 carries
	// a challenge): none of the outpost's answers may cost a connection.
	const requests = 20
	for i := range 3 * requests {
		req, _ := http.NewRequest("GET", "http://"+nginxAddr+"/api/data", nil)
		want, wantBody := 200, `app says hello to "alice"`
		switch i % 3 {
		case 0:
			req.Header.Set("Authorization", "Bearer "+tok)
		case 1:
			req.Header.Set("Accept", "text/html")
			want, wantBody = http.StatusFound, ""
		case 2:
			req.Header.Set("Authorization", "Bearer not-a-token")
			want, wantBody = http.StatusUnauthorized, ""
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(resp); resp.StatusCode != want || wantBody != "" && body != wantBody {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n > 2 {
		t.Errorf("%d requests through nginx opened %d connections to the outpost", 3*requests, n)
	}
}

// countingRelay passes TCP connections on to target and counts them.
func countingRelay(t *testing.T, target string) (string, *atomic.Int64) {
	t.Helper()
	ln := listen(t)
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c); u.Close() }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return ln.Addr().String(), &n
}

// helloApp is the app behind a forward-auth server in these tests: it
// greets the X-Authentik-Username it was given, and lastSeen returns the
// last request it got, headers and all.
func helloApp(t *testing.T) (app *httptest.Server, lastSeen func() *http.Request) {
	t.Helper()
	var mu sync.Mutex
	var seen []*http.Request
	app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(r.Context()))
		mu.Unlock()
		fmt.Fprintf(w, "app says hello to %q", r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(app.Close)
	return app, func() *http.Request {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			t.Fatal("the app got no request")
		}
		return seen[len(seen)-1]
	}
}
