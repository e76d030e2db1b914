package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/outpost-dev/outpost/internal/webtest"
)

// Behind a 2026.8+ core that does not trust the outpost's address, the
// core ignores the X-Forwarded-Proto of the outpost's token request, and
// the token's iss has the core's own scheme, not the browsers' https: the
// outpost refuses it (every sign-in fails) and its log names both issuers
// and what to change on the core. With the outpost trusted, the same
// sign-in works, so the failure is the core's setting and nothing else.
func TestCoreIssuerMismatchNamesTheFix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		trusted string // the devcore's trusted_proxy_cidrs line, "" for its default
		signsIn bool
	}{
		{"outpost outside the core's trusted proxies", "trusted_proxy_cidrs: [10.0.0.0/8]\n", false},
		{"outpost inside the core's trusted proxies", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var upstreamHits atomic.Int32
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				upstreamHits.Add(1)
				fmt.Fprintf(w, "hello %s", r.Header.Get("X-Authentik-Username"))
			}))
			defer app.Close()
			hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			coreAddr, outAddr := freeAddr(t), freeAddr(t)
			outPort := outAddr[strings.LastIndex(outAddr, ":")+1:]
			cfg := filepath.Join(t.TempDir(), "core.yaml")
			if err := os.WriteFile(cfg, []byte(`core_version: "2026.8"
`+tc.trusted+`outposts:
  - pk: 3c9d2f61-7a4b-4e8c-9d1f-5b6a7c8d9e0f
    name: edge
    token: issuer-test-token
    providers: [app]
providers:
  - name: app
    external_host: http://localhost:`+outPort+`
    internal_host: `+app.URL+`
    client_id: app
    client_secret: app-secret-0123456789abcdef0123456789
    cookie_secret: app-cookie-0123456789abcdef
users:
  - username: alice
    password_hash: "`+string(hash)+`"
`), 0o600); err != nil {
				t.Fatal(err)
			}
			core := start(t, nil, "devcore", "--config", cfg, "--listen", coreAddr)
			core.waitFor(t, "devcore listening", 30*time.Second)

			// Browsers reach the core over https, through a TLS front that
			// keeps their Host (as an ingress does).
			target, _ := url.Parse("http://" + coreAddr)
			front := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Host = r.In.Host
				r.Out.Header.Set("X-Forwarded-Proto", "https")
			}})
			defer front.Close()
			frontPort := front.URL[strings.LastIndex(front.URL, ":")+1:]
			browserCore := "https://localhost:" + frontPort

			out := start(t, []string{
				"AUTHENTIK_HOST=http://" + coreAddr + "/", "AUTHENTIK_TOKEN=issuer-test-token",
				"AUTHENTIK_HOST_BROWSER=" + browserCore + "/",
				"AUTHENTIK_LISTEN__HTTP=" + outAddr, "AUTHENTIK_LISTEN__METRICS=" + freeAddr(t),
			})
			out.waitFor(t, "configuration in force", 30*time.Second)

			browser := webtest.Browser(t)
			// The test certificate names example.com; the browser trusts it for localhost.
			tr := front.Client().Transport.(*http.Transport).Clone()
			tr.TLSClientConfig.ServerName = "example.com"
			browser.Transport = webtest.Navigating(tr)
			login := webtest.Get(t, browser, "http://localhost:"+outPort+"/")
			if !strings.HasPrefix(login.Request.URL.String(), browserCore+"/") {
				t.Fatalf("the sign-in did not go to the core's browser URL: %s", login.Request.URL)
			}
			resp := webtest.SignIn(t, browser, login, "alice", "alice-pw")
			body := webtest.ReadBody(resp)

			if tc.signsIn {
				if resp.StatusCode != 200 || body != "hello alice" {
					t.Fatalf("signed in and trusted: %d %q", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("sign-in with a token of the wrong iss: %d, want 401", resp.StatusCode)
			}
			if n := upstreamHits.Load(); n != 0 {
				t.Errorf("the app was reached %d times", n)
			}
			line := out.waitFor(t, "sign-in failed", 10*time.Second)
			for _, want := range []string{
				`http://localhost:` + frontPort + `/application/o/app/`,  // the token's iss
				`https://localhost:` + frontPort + `/application/o/app/`, // the issuer expected
				"AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS", "AUTHENTIK_WEB__BASE_URL", "Behind a 2026.8+ core",
			} {
				if !strings.Contains(line, want) {
					t.Errorf("the log line does not name %q:\n%s", want, line)
				}
			}
		})
	}
}
