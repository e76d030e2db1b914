package outpostapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestClientRequestsOnTheWire(t *testing.T) {
	core := newFakeCore(t)
	core.start("127.0.0.1:0")
	// A sub-path AUTHENTIK_HOST with a query: the API lives under the path,
	// the query is for the websocket only.
	c := NewClient(testEnv(t, "http://"+core.Addr+"/?region=eu", fakeToken), "2026.2.2", "abc123")
	ctx := context.Background()

	outs, err := c.Outposts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].PK != fakeOutpostPK || outs[0].Config["authentik_host"] != "https://auth.example.com" {
		t.Errorf("outposts = %+v", outs)
	}
	if _, err := c.RootConfig(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := core.recorded()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d", len(reqs))
	}
	if reqs[0].Path != "/api/v3/outposts/instances/" || reqs[0].RawQuery != "" || reqs[0].Method != "GET" {
		t.Errorf("outposts request = %s %s?%s", reqs[0].Method, reqs[0].Path, reqs[0].RawQuery)
	}
	if reqs[1].Path != "/api/v3/root/config/" {
		t.Errorf("root config path = %s", reqs[1].Path)
	}
	for _, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "Bearer "+fakeToken {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("User-Agent"); got != "goauthentik.io/outpost/2026.2.2+abc123" {
			t.Errorf("User-Agent = %q", got)
		}
	}
	if got := UserAgent("2026.2.2", ""); got != "goauthentik.io/outpost/2026.2.2" {
		t.Errorf("UserAgent without build = %q", got)
	}
}

func TestClientSubPath(t *testing.T) {
	var gotPath atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath.Store(r.URL.Path)
		fmt.Fprint(w, `{"pagination":{"next":0},"results":[],"autocomplete":{}}`)
	}))
	defer srv.Close()
	c := NewClient(testEnv(t, srv.URL+"/authentik/?x=1", "t"), "1.0.0", "")
	if _, err := c.Outposts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := gotPath.Load(); got != "/authentik/api/v3/outposts/instances/" {
		t.Errorf("path = %v", got)
	}
}

func TestClientProvidersAcrossPages(t *testing.T) {
	core := newFakeCore(t)
	core.providers = testProviders(250)
	core.start("127.0.0.1:0")
	c := NewClient(testEnv(t, core.url(), fakeToken), "1.0.0", "")
	got, err := c.ProxyProviders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 250 {
		t.Fatalf("got %d providers, want 250", len(got))
	}
	for i, p := range got {
		if p.PK != i+1 || p.Name != fmt.Sprintf("provider-%04d", i+1) || p.OIDCConfiguration.TokenEndpoint == "" {
			t.Fatalf("provider %d = pk %d name %q", i, p.PK, p.Name)
		}
	}
	var queries []string
	for _, r := range core.recorded() {
		queries = append(queries, r.RawQuery)
	}
	want := []string{"page=1&page_size=100", "page=2&page_size=100", "page=3&page_size=100"}
	if strings.Join(queries, " ") != strings.Join(want, " ") {
		t.Errorf("queries = %v, want %v", queries, want)
	}
}

func TestClientPaginationGuards(t *testing.T) {
	cases := []struct {
		name string
		pg   func(page, total int) Pagination
		want string
	}{
		{"next repeats the current page", func(page, _ int) Pagination { return Pagination{Current: page, Next: page} }, "does not move forward"},
		{"next goes back", func(page, _ int) Pagination { return Pagination{Current: page, Next: 1} }, "does not move forward"},
		{"endless pages", func(page, _ int) Pagination { return Pagination{Current: page, Next: page + 1} }, "more than 1000 pages"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			core := newFakeCore(t)
			core.providers = testProviders(3)
			core.pagination = tc.pg
			core.start("127.0.0.1:0")
			c := NewClient(testEnv(t, core.url(), fakeToken), "1.0.0", "")
			_, err := c.ProxyProviders(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if n := core.count("/api/v3/outposts/proxy/"); n > maxProviderPages {
				t.Errorf("%d requests", n)
			}
		})
	}
}

func TestClientHTTPErrors(t *testing.T) {
	core := newFakeCore(t)
	core.start("127.0.0.1:0")

	// Wrong token: a typed error, matched by ErrTokenRejected, with a
	// message naming the variable and never the token.
	const wrong = "wrong-token-abcdef"
	c := NewClient(testEnv(t, core.url(), wrong), "1.0.0", "")
	_, err := c.Outposts(context.Background())
	var he *HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Fatalf("err = %#v", err)
	}
	if !errors.Is(err, ErrTokenRejected) || !strings.Contains(err.Error(), "rejected AUTHENTIK_TOKEN") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(he.Body, "credentials") || strings.Contains(err.Error(), wrong) {
		t.Errorf("body excerpt = %q, err = %v", he.Body, err)
	}

	// Another status: the status and a bounded, one-line excerpt.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "<html>\n  upstream down %s %s</html>", r.Header.Get("Authorization"), strings.Repeat("x", 5000))
	}))
	defer srv.Close()
	c = NewClient(testEnv(t, srv.URL, "echoed-secret"), "1.0.0", "")
	_, err = c.RootConfig(context.Background())
	if !errors.As(err, &he) || he.StatusCode != http.StatusBadGateway || errors.Is(err, ErrTokenRejected) {
		t.Fatalf("err = %v", err)
	}
	if len(he.Body) > bodyExcerptBytes || strings.Contains(he.Body, "\n") || !strings.Contains(he.Body, "upstream down") {
		t.Errorf("excerpt = %q", he.Body)
	}
	if strings.Contains(err.Error(), "echoed-secret") {
		t.Errorf("the token echoed by the server leaked into the error: %v", err)
	}
}

func TestClientRejectsOversizedAndInvalidBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v3/root/config/" {
			fmt.Fprint(w, "<html>not json</html>")
			return
		}
		fmt.Fprint(w, `{"pagination":{},"results":[`)
		chunk := strings.Repeat(`{"pk":"x"},`, 1000)
		for written := 0; written <= maxResponseBytes; written += len(chunk) {
			if _, err := fmt.Fprint(w, chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := NewClient(testEnv(t, srv.URL, "t"), "1.0.0", "")
	if _, err := c.Outposts(context.Background()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized body: err = %v", err)
	}
	if _, err := c.RootConfig(context.Background()); err == nil || !strings.Contains(err.Error(), "decoding response") {
		t.Errorf("invalid body: err = %v", err)
	}
}

// Bodies are read and closed, so connections are reused even when calls fail.
func TestClientReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v3/root/config/" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"pagination":{"next":0},"results":[{"pk":"a","unknown":1}],"autocomplete":{}}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := NewClient(testEnv(t, srv.URL, "t"), "1.0.0", "")
	for range 20 {
		if _, err := c.Outposts(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RootConfig(context.Background()); err == nil {
			t.Fatal("500 accepted")
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 40 sequential calls, want 1", n)
	}
}

func TestClientTLSVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"pagination":{"next":0},"results":[],"autocomplete":{}}`)
	}))
	defer srv.Close()
	strict := NewClient(testEnv(t, srv.URL, "t"), "1.0.0", "")
	if _, err := strict.Outposts(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("self-signed certificate accepted without AUTHENTIK_INSECURE: %v", err)
	}
	env := testEnv(t, srv.URL, "t")
	env.Insecure = true
	if _, err := NewClient(env, "1.0.0", "").Outposts(context.Background()); err != nil {
		t.Errorf("AUTHENTIK_INSECURE=true: %v", err)
	}
}

func TestClientCertificates(t *testing.T) {
	core := newFakeCore(t)
	const id = "0b0ec2a9-5d2f-4d8a-9d5e-6d8f0b3c1a11"
	core.certs[id] = fakeCert{Fingerprint: "fp1", Cert: "CERT PEM", Key: "KEY PEM"}
	core.start("127.0.0.1:0")
	c := NewClient(testEnv(t, core.url(), fakeToken), "1.0.0", "")
	ctx := context.Background()
	kp, err := c.CertificateKeyPair(ctx, id)
	if err != nil || kp.FingerprintSHA256 != "fp1" || !kp.PrivateKeyAvailable {
		t.Fatalf("keypair = %+v, %v", kp, err)
	}
	cert, err := c.CertificatePEM(ctx, id)
	if err != nil || cert != "CERT PEM" {
		t.Errorf("cert = %q, %v", cert, err)
	}
	key, err := c.PrivateKeyPEM(ctx, id)
	if err != nil || key != "KEY PEM" {
		t.Errorf("key = %q, %v", key, err)
	}
	paths := []string{}
	for _, r := range core.recorded() {
		paths = append(paths, r.Path)
	}
	base := "/api/v3/crypto/certificatekeypairs/" + id + "/"
	if want := []string{base, base + "view_certificate/", base + "view_private_key/"}; strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("paths = %v", paths)
	}
	// A keypair id that is not a UUID never reaches the wire.
	before := len(core.recorded())
	if _, err := c.CertificatePEM(ctx, "../../outposts/instances"); err == nil {
		t.Error("non-UUID keypair id accepted")
	}
	if len(core.recorded()) != before {
		t.Error("non-UUID keypair id was requested")
	}
	var he *HTTPError
	if _, err := c.CertificateKeyPair(ctx, "11111111-2222-3333-4444-555555555555"); !errors.As(err, &he) || he.StatusCode != 404 {
		t.Errorf("missing keypair: %v", err)
	}
}

func TestClientPostEvent(t *testing.T) {
	core := newFakeCore(t)
	core.start("127.0.0.1:0")
	c := NewClient(testEnv(t, core.url(), fakeToken), "1.0.0", "")
	if err := c.PostEvent(context.Background(), Event{Action: "configuration_error", App: "authentik.providers.proxy", ClientIP: "10.0.0.1:1234"}); err != nil {
		t.Fatal(err)
	}
	reqs := core.recorded()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/api/v3/events/events/" {
		t.Fatalf("requests = %+v", reqs)
	}
	if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if string(body["action"]) != `"configuration_error"` || string(body["app"]) != `"authentik.providers.proxy"` ||
		string(body["client_ip"]) != `"10.0.0.1:1234"` || string(body["context"]) != `{}` {
		t.Errorf("body = %s", reqs[0].Body)
	}
}

func TestClientHonoursContext(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewClient(testEnv(t, srv.URL, "t"), "1.0.0", "").Outposts(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}
