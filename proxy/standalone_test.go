package proxy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// A standalone provider signs people in at an issuer that is not the
// devcore: zitadel's OpenID-certified provider (its example storage), which
// signs RS256 and publishes a JWKS, found by discovery alone.
func TestStandaloneLoginAtAnotherIssuer(t *testing.T) {
	// The example server logs through the process-wide default logger.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	t.Cleanup(func() { slog.SetDefault(prev) })
	opLn, outLn := listen(t), listen(t)
	issuer := "http://" + opLn.Addr().String() + "/"
	external := "http://" + outLn.Addr().String()

	storage.RegisterClients(storage.WebClient("outpost-client", "outpost-client-secret", external+"/outpost.goauthentik.io/callback?X-authentik-auth-callback=true"))
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
