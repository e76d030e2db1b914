package proxy_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/testissuer"
	"github.com/outpost-dev/outpost/proxy"
)

// An app that routes /API/v1/admin as /api/v1/admin (Express, ASP.NET)
// behind two providers with the same rules: "folded" with
// paths_case_insensitive, "exact" without. A non-admin asks for
// /API/v1/admin: folded refuses it before the app; exact lets it through,
// as its rules say (the prefix /api/v1/admin does not cover /API/...).
func TestPathRulesWithoutCase(t *testing.T) {
	issuer := testissuer.Start(t, authzUsers)
	var mu sync.Mutex
	var seen []string // host and path of each request the app received
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		name, _, _ := strings.Cut(r.Host, ":")
		seen = append(seen, name+" "+r.URL.Path)
		mu.Unlock()
		fmt.Fprintf(w, "app: %s as %q", r.URL.Path, r.Header.Get("X-Authentik-Username"))
	}))
	t.Cleanup(app.Close)
	ln := listen(t)
	_, port, _ := strings.Cut(ln.Addr().String(), ":")
	folded := authzRules + "    paths_case_insensitive: true\n"
	doc := "outpost: {name: pathcase}\nproviders:\n" +
		standaloneProvider("folded", "proxy", "folded.localhost:"+port, app.URL, issuer.URL, folded) +
		standaloneProvider("exact", "proxy", "exact.localhost:"+port, app.URL, issuer.URL, authzRules) +
		standaloneProvider("fwd", "forward_single", "fwd.localhost:"+port, app.URL, issuer.URL, folded)
	// nginx on 127.0.0.1 is trusted for X-Original-URL and -Method.
	serveStandalone(t, ln, doc, proxy.Options{})

	ask := func(t *testing.T, host, user, path string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+path, nil)
		req.Host = host + ":" + port
		req.Header.Set("Authorization", "Bearer "+issuer.Token(user, host[:strings.Index(host, ".")]+"-client", time.Hour))
		status, _ := do(t, req)
		return status
	}
	reached := func(entry string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range seen {
			if s == entry {
				return true
			}
		}
		return false
	}
	cases := []struct {
		host, user, path string
		want             int
	}{
		{"folded.localhost", "olga", "/API/v1/admin", 403},
		{"folded.localhost", "olga", "/Api/V1/Admin/tsdb", 403},
		{"folded.localhost", "olga", "/api/v1/admin", 403},
		{"folded.localhost", "olga", "/API/v1/ADMINISTRATORS", 200},
		{"folded.localhost", "ada", "/API/v1/admin", 200},
		{"exact.localhost", "olga", "/API/v1/admin", 200},
		{"exact.localhost", "olga", "/api/v1/admin", 403},
	}
	for _, c := range cases {
		t.Run(c.host+" "+c.user+" "+c.path, func(t *testing.T) {
			if got := ask(t, c.host, c.user, c.path); got != c.want {
				t.Errorf("status %d, want %d", got, c.want)
			}
			if got := reached(c.host + " " + c.path); got != (c.want == 200) {
				t.Errorf("the app received it: %t, want %t", got, c.want == 200)
			}
		})
	}

	// Forward auth answers the same for the folded rules; the app is
	// never asked (nginx would not forward a refused request).
	t.Run("forward_single", func(t *testing.T) {
		for path, want := range map[string]int{"/API/v1/admin": 403, "/graph": 200} {
			req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/outpost.goauthentik.io/auth/nginx", nil)
			req.Host = "fwd.localhost:" + port
			req.Header.Set("X-Original-URL", "http://fwd.localhost:"+port+path)
			req.Header.Set("X-Original-Method", "GET") // the rules have methods
			req.Header.Set("Authorization", "Bearer "+issuer.Token("olga", "fwd-client", time.Hour))
			if got, body := do(t, req); got != want {
				t.Errorf("%s: forward auth %d, want %d (%s)", path, got, want, body)
			}
		}
		if reached("fwd.localhost /API/v1/admin") || reached("fwd.localhost /graph") {
			t.Error("forward auth passed a request on to the app")
		}
	})
}
