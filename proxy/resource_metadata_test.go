package proxy_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/testissuer"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
	"github.com/outpost-dev/outpost/session"
)

// protectedResource is RFC 9728's document as a client reads it.
type protectedResource struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	Scopes               []string `json:"scopes_supported"`
	BearerMethods        []string `json:"bearer_methods_supported"`
}

var resourceMetadataParam = regexp.MustCompile(`resource_metadata="([^"]*)"`)

// metadataFromChallenge is the resource_metadata of the Bearer challenges
// in h, "" when none names one.
func metadataFromChallenge(h http.Header) string {
	for _, c := range h.Values("WWW-Authenticate") {
		if m := resourceMetadataParam.FindStringSubmatch(c); m != nil && strings.HasPrefix(c, "Bearer ") {
			return m[1]
		}
	}
	return ""
}

func getJSON(t *testing.T, u string, out any) *http.Response {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp
}

// A client that knows nothing but the app's URL, as an MCP client starts:
// the bare 401 names the metadata, the metadata names the core's issuer,
// the issuer's discovery names the token endpoint, a client_credentials
// grant there gives a token, and the token opens the app. The metadata
// itself never reaches the app.
func TestResourceMetadataLeadsAClientToAToken(t *testing.T) {
	st := newStack(t)
	resp, body := call(t, st, "", "/api/v1/query?q=up", "", "application/json")
	meta := metadataFromChallenge(resp.Header)
	if resp.StatusCode != http.StatusUnauthorized || meta != st.outpost+"/.well-known/oauth-protected-resource" {
		t.Fatalf("bare request: %d %q %s", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), body)
	}
	before := st.upstreamCount()

	var doc protectedResource
	r := getJSON(t, meta, &doc)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" || r.Header.Get("Set-Cookie") != "" {
		t.Errorf("metadata answer: Content-Type %q, Set-Cookie %q", ct, r.Header.Get("Set-Cookie"))
	}
	if doc.Resource != st.outpost || len(doc.AuthorizationServers) != 1 || !slices.Equal(doc.BearerMethods, []string{"header"}) ||
		!slices.Contains(doc.Scopes, "openid") {
		t.Fatalf("metadata: %+v", doc)
	}

	var disc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	getJSON(t, strings.TrimSuffix(doc.AuthorizationServers[0], "/")+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != doc.AuthorizationServers[0] || disc.TokenEndpoint == "" {
		t.Fatalf("discovery of %s: %+v", doc.AuthorizationServers[0], disc)
	}
	tr, err := http.PostForm(disc.TokenEndpoint, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {"app-client"},
		"username": {"alice"}, "password": {"alice-app-pw"}, "scope": {strings.Join(doc.Scopes, " ")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(tr.Body).Decode(&tok); err != nil || tr.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", tr.StatusCode, err)
	}
	tr.Body.Close()

	resp, body = call(t, st, "", "/api/v1/query?q=up", "Bearer "+tok.AccessToken, "application/json")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `as "alice"`) {
		t.Fatalf("with the token: %d %s", resp.StatusCode, body)
	}
	if n := st.upstreamCount(); n != before+1 {
		t.Errorf("the app got %d requests, want only the one with the token", n-before)
	}
}

// Per provider, on a standalone outpost: served where on (the default),
// not where turned off, never for a host no provider serves, and a
// request of the wrong shape gets a 4xx. The app never sees any of it.
func TestResourceMetadataPerProvider(t *testing.T) {
	iss := testissuer.Start(t, map[string]testissuer.User{"sam": {Password: "pw"}})
	var mu sync.Mutex
	var appPaths []string
	app := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		appPaths = append(appPaths, r.URL.Path)
		mu.Unlock()
		fmt.Fprintf(w, "hello %s", r.Header.Get("X-Authentik-Username"))
	})}
	appLn := listen(t)
	go func() { _ = app.Serve(appLn) }()
	t.Cleanup(func() { _ = app.Close() })

	ln := listen(t)
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	hostA, hostB := "a.localhost:"+port, "b.localhost:"+port
	provider := func(name, host, extra string) string {
		return fmt.Sprintf(`  - name: %s
    external_host: http://%s
    internal_host: http://%s
    issuer: %s
    client_id: %s-client
    client_secret: %s-secret
    cookie_secret: cookie-secret-0123456789abcdef
    scopes_to_request: [openid, profile]
%s`, name, host, appLn.Addr(), iss.URL, name, name, extra)
	}
	serve := func(yaml string) string {
		snap, err := outpostapi.ParseStatic([]byte("outpost: {name: metadata}\nproviders:\n"+yaml), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		store := session.NewMemoryStore(session.MemoryOptions{})
		t.Cleanup(func() { _ = store.Close() })
		srv := proxy.New(proxy.Options{Log: slog.New(slog.DiscardHandler), Store: store, Version: "0.1.0"})
		t.Cleanup(srv.Close)
		if failed := srv.Update(snap); len(failed) > 0 {
			t.Fatal(failed)
		}
		l := listen(t)
		front := proxy.NewHTTPServer(srv)
		go func() { _ = front.Serve(l) }()
		t.Cleanup(func() { _ = front.Close() })
		return l.Addr().String()
	}
	ln.Close()
	two := serve(provider("a", hostA, "") + provider("b", hostB, "    protected_resource_metadata: false\n"))
	single := serve(provider("a", hostA, ""))
	token := iss.Token("sam", "a-client", time.Hour)

	const wellKnown = "/.well-known/oauth-protected-resource"
	metaA := "http://" + hostA + wellKnown
	for _, c := range []struct {
		name, at, host, method, path, auth string
		status                             int
		// metadata: the challenge names the document (a 401), or the
		// body is it (a 200); "" for neither.
		metadata string
	}{
		{"a serves its document", two, hostA, "GET", wellKnown, "", 200, metaA},
		{"HEAD", two, hostA, "HEAD", wellKnown, "", 200, ""},
		{"POST is refused", two, hostA, "POST", wellKnown, "", 405, ""},
		{"a path under it is not the app's", two, hostA, "GET", wellKnown + "/other", "", 404, ""},
		{"a's bare 401 names it", two, hostA, "GET", "/api", "", 401, metaA},
		{"a's refused token names it", two, hostA, "GET", "/api", "Bearer not-a-token", 401, metaA},
		{"a's refused Basic names it", two, hostA, "GET", "/api", "Basic c2FtOnB3", 401, metaA},
		{"a token from the issuer passes", two, hostA, "GET", "/api", "Bearer " + token, 200, ""},
		{"b turned it off: the path is the app's, behind sign-in", two, hostB, "GET", wellKnown, "", 401, ""},
		{"b's 401 names none", two, hostB, "GET", "/api", "", 401, ""},
		{"a host no provider serves", two, "c.localhost:" + port, "GET", wellKnown, "", 400, ""},
		{"one provider serving every host: only its own", single, "c.localhost:" + port, "GET", wellKnown, "", 404, ""},
		{"one provider, its own host", single, hostA, "GET", wellKnown, "", 200, metaA},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, "http://"+c.at+c.path, nil)
			req.Host = c.host
			req.Header.Set("Accept", "application/json")
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			if resp.StatusCode != c.status {
				t.Fatalf("%d, want %d: %s", resp.StatusCode, c.status, body)
			}
			named := metadataFromChallenge(resp.Header)
			var doc protectedResource
			_ = json.Unmarshal([]byte(body), &doc)
			switch {
			case c.status == 401 && named != c.metadata:
				t.Errorf("challenge %q names %q, want %q", resp.Header.Values("WWW-Authenticate"), named, c.metadata)
			case c.status == 200 && c.metadata != "":
				want := protectedResource{Resource: "http://" + hostA, AuthorizationServers: []string{iss.URL},
					Scopes: []string{"openid", "profile"}, BearerMethods: []string{"header"}}
				if fmt.Sprint(doc) != fmt.Sprint(want) {
					t.Errorf("document %+v, want %+v", doc, want)
				}
				if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
					t.Errorf("headers: %v", resp.Header)
				}
			case c.status != 200 && doc.AuthorizationServers != nil:
				t.Errorf("a refusal carries the document: %s", body)
			case c.method == "HEAD" && body != "":
				t.Errorf("HEAD has a body: %q", body)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range appPaths {
		if strings.HasPrefix(p, "/.well-known/") {
			t.Errorf("the app got %s", p)
		}
	}
}

// Forward auth: the shipped nginx and Caddy files route the document to
// the outpost, unchecked, and pass the 401's challenge naming it on; the
// app sees neither.
func TestResourceMetadataThroughReverseProxies(t *testing.T) {
	for _, front := range []string{"nginx", "caddy"} {
		t.Run(front, func(t *testing.T) {
			ln := reserve(t)
			addr := ln.Addr().String()
			ln.Close()
			app, _ := helloApp(t)
			var mu sync.Mutex
			var seen []string
			counted := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.URL.Path)
				mu.Unlock()
				app.Config.Handler.ServeHTTP(w, r)
			})}
			appLn := listen(t)
			go func() { _ = counted.Serve(appLn) }()
			t.Cleanup(func() { _ = counted.Close() })
			appURL := "http://" + appLn.Addr().String()

			st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile]",
				mode: "forward_single", trusted: true, external: "http://" + addr})
			outpost := strings.TrimPrefix(st.outpost, "http://")
			if front == "nginx" {
				runNginx(t, addr, outpost, appURL)
			} else {
				runCaddy(t, addr, outpost, caddySite{"http://" + addr, appURL})
			}
			site := "http://" + addr

			req, _ := http.NewRequest("GET", site+"/api/v1/query", nil)
			req.Header.Set("Accept", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			meta := metadataFromChallenge(resp.Header)
			if resp.StatusCode != http.StatusUnauthorized || meta != site+"/.well-known/oauth-protected-resource" {
				t.Fatalf("bare request: %d %q %s", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), body)
			}
			var doc protectedResource
			getJSON(t, meta, &doc)
			if doc.Resource != site || len(doc.AuthorizationServers) != 1 || !strings.HasPrefix(doc.AuthorizationServers[0], st.core) {
				t.Errorf("document: %+v", doc)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) > 0 {
				t.Errorf("the app got %v", seen)
			}
		})
	}
}
