package proxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-dev/outpost/internal/testissuer"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// A standalone provider signs people in at an issuer that is not the
// devcore: zitadel's OpenID-certified provider (its example storage), which
// signs RS256 and publishes a JWKS, found by discovery alone. It matches
// redirect URIs byte for byte, and only the plain callback path is
// registered: the outpost's default for standalone providers.
func TestStandaloneLoginAtAnotherIssuer(t *testing.T) {
	// The example server logs through the process-wide default logger.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	t.Cleanup(func() { slog.SetDefault(prev) })
	opLn, outLn := listen(t), listen(t)
	issuer := "http://" + opLn.Addr().String() + "/"
	external := "http://" + outLn.Addr().String()

	storage.RegisterClients(storage.WebClient("outpost-client", "outpost-client-secret", external+"/outpost.goauthentik.io/callback"))
	op := &http.Server{Handler: exampleop.SetupServer(issuer, storage.NewStorage(storage.NewUserStore(issuer)), nil, false)}
	go func() { _ = op.Serve(opLn) }()
	t.Cleanup(func() { _ = op.Close() })

	var mu sync.Mutex
	var seen *http.Request
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(context.Background())
		mu.Unlock()
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Authentik-Username"))
	}))
	defer up.Close()

	store := session.NewMemoryStore(session.MemoryOptions{})
	defer store.Close()
	srv := proxy.New(proxy.Options{Log: slog.New(slog.DiscardHandler), Store: store, Version: "0.1.0"})
	front := &http.Server{Handler: srv}
	go func() { _ = front.Serve(outLn) }()
	t.Cleanup(func() { _ = front.Close() })

	snap, err := outpostapi.ParseStatic([]byte(fmt.Sprintf(`
outpost: {name: standalone}
providers:
  - name: app
    external_host: %s
    internal_host: %s
    issuer: %s
    client_id: outpost-client
    client_secret: outpost-client-secret
    cookie_secret: standalone-cookie-secret-0123
    scopes_to_request: [openid, profile, email]
`, external, up.URL, issuer)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}

	c := browser(t)
	resp := getPage(t, c, external+"/dashboards?orgId=1")
	if !strings.HasPrefix(resp.Request.URL.String(), issuer+"login/username") {
		t.Fatalf("not at the issuer's login page: %s", resp.Request.URL)
	}
	resp = signIn(t, c, resp, "test-user@127.0.0.1", "verysecure")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.String() != external+"/dashboards?orgId=1" {
		t.Fatalf("after login: %d at %s: %s", resp.StatusCode, resp.Request.URL, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen.Header.Get("X-Authentik-Username") != "test-user@127.0.0.1" || seen.Header.Get("X-Authentik-Email") == "" ||
		seen.Header.Get("X-Authentik-Uid") != "id1" || seen.Header.Get("X-Authentik-Meta-Outpost") != "standalone" {
		t.Errorf("identity upstream: %v", seen.Header)
	}
	if seen.Header.Get("X-Authentik-Name") == "" {
		t.Errorf("userinfo claims not merged: name is empty")
	}
	// The raw token passed on is the RS256 id_token the issuer signed.
	if jwt := seen.Header.Get("X-Authentik-Jwt"); !strings.HasPrefix(jwt, "eyJhbGciOiJSUzI1NiI") {
		t.Errorf("X-Authentik-Jwt is not an RS256 JWT: %.40s", jwt)
	}
}

// Two standalone issuers whose users share a sub: signing out at one ends
// only the sessions that issuer vouched for (issue 20, row 5).
func TestSignOutEndsOnlyTheSameIssuersSessions(t *testing.T) {
	users := map[string]testissuer.User{"sam": {Password: "pw", Claims: map[string]any{"email": "sam@example.com"}}}
	issA, issB := testissuer.Start(t, users), testissuer.Start(t, users)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Authentik-Username"))
	}))
	defer app.Close()
	ln := listen(t)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	hostA, hostB := "a.localhost:"+port, "b.localhost:"+port
	provider := func(name, host, issuer string) string {
		return fmt.Sprintf(`  - name: %s
    external_host: http://%s
    internal_host: %s
    issuer: %s
    client_id: %s-client
    client_secret: %s-secret
    cookie_secret: cookie-secret-0123456789abcdef
`, name, host, app.URL, issuer, name, name)
	}
	snap, err := outpostapi.ParseStatic([]byte("outpost: {name: two-issuers}\nproviders:\n"+
		provider("a", hostA, issA.URL)+provider("b", hostB, issB.URL)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := session.NewMemoryStore(session.MemoryOptions{})
	defer store.Close()
	srv := proxy.New(proxy.Options{Log: slog.New(slog.DiscardHandler), Store: store, Version: "0.1.0"})
	if failed := srv.Update(snap); len(failed) > 0 {
		t.Fatal(failed)
	}
	front := proxy.NewHTTPServer(srv)
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { _ = front.Close() })

	c := resolvingBrowser(t, ".localhost")
	for _, host := range []string{hostA, hostB} {
		resp := signIn(t, c, getPage(t, c, "http://"+host+"/"), "sam", "pw")
		if body := readBody(resp); body != "hello sam" {
			t.Fatalf("sign-in at %s: %d %q", host, resp.StatusCode, body)
		}
	}
	readBody(getPage(t, c, "http://"+hostB+"/outpost.goauthentik.io/sign_out"))
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for host, want := range map[string]int{hostA: http.StatusOK, hostB: http.StatusFound} {
		t.Run(host, func(t *testing.T) {
			resp, err := noFollow.Get("http://" + host + "/")
			if err != nil {
				t.Fatal(err)
			}
			readBody(resp)
			if resp.StatusCode != want {
				t.Errorf("after sign-out at b: %s answers %d, want %d", host, resp.StatusCode, want)
			}
		})
	}
}
