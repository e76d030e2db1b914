package outpostapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

// The outposts list a refresh reads is Outposts's without the provider
// lists, from the same request.
func TestClientOutpostsForRefresh(t *testing.T) {
	core := newFakeCore(t)
	o := &core.outposts[0]
	for pk := 1; pk <= 300; pk++ {
		o.Providers = append(o.Providers, pk)
		o.ProvidersObj = append(o.ProvidersObj, ProviderRef{PK: pk, Name: fmt.Sprintf("p%d", pk)})
	}
	managed := "goauthentik.io/outposts/embedded"
	o.Managed = &managed
	core.start("127.0.0.1:0")
	c := NewClient(testEnv(t, core.url(), fakeToken), "1.0.0", "")
	full, err := c.Outposts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	brief, err := c.outpostsForRefresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(full) != 1 || len(brief) != 1 || len(full[0].ProvidersObj) != 300 {
		t.Fatalf("full %+v, brief %+v", full, brief)
	}
	want := full[0]
	want.Providers, want.ProvidersObj = nil, nil
	if !reflect.DeepEqual(brief[0], want) || brief[0].Managed == nil || *brief[0].Managed != managed {
		t.Errorf("brief = %#v\nwant %#v", brief[0], want)
	}
	reqs := core.recorded()
	if len(reqs) != 2 || reqs[1].Path != reqs[0].Path || reqs[1].RawQuery != reqs[0].RawQuery || fmt.Sprint(reqs[1].Header) != fmt.Sprint(reqs[0].Header) {
		t.Errorf("requests differ: %+v", reqs)
	}
}

// A body is read whole whether or not its length is announced, within the
// limit either way.
func TestClientReadsBodies(t *testing.T) {
	results := `[{"pk":"` + strings.Repeat("x", 200_000) + `"}]`
	body := `{"pagination":{"next":0},"results":` + results + `,"autocomplete":{}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("length") {
		case "exact":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		case "short":
			// Announces more than it sends: the read fails.
			w.Header().Set("Content-Length", strconv.Itoa(len(body)+10))
		case "huge":
			w.Header().Set("Content-Length", strconv.Itoa(maxResponseBytes+1))
			io.WriteString(w, strings.Repeat(" ", maxResponseBytes+1))
			return
		}
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c := NewClient(testEnv(t, srv.URL, "t"), "1.0.0", "")
	for _, length := range []string{"exact", "chunked"} {
		t.Run(length, func(t *testing.T) {
			var page Paginated[Outpost]
			if err := c.do(context.Background(), http.MethodGet, "outposts/instances/", url.Values{"length": {length}}, nil, &page); err != nil {
				t.Fatalf("%s: %v", length, err)
			}
			if len(page.Results) != 1 || len(page.Results[0].PK) != 200_000 {
				t.Errorf("%s: %d results", length, len(page.Results))
			}
		})
	}
	if err := c.do(context.Background(), http.MethodGet, "outposts/instances/", url.Values{"length": {"short"}}, nil, &Paginated[Outpost]{}); err == nil || !strings.Contains(err.Error(), "reading response") {
		t.Errorf("short body: %v", err)
	}
	if err := c.do(context.Background(), http.MethodGet, "outposts/instances/", url.Values{"length": {"huge"}}, nil, &Paginated[Outpost]{}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge body: %v", err)
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
	// Pages 2 and 3 are fetched together, so they may arrive in any order.
	var queries []string
	for _, r := range core.recorded() {
		queries = append(queries, r.RawQuery)
	}
	slices.Sort(queries)
	want := []string{"page=1&page_size=100", "page=2&page_size=100", "page=3&page_size=100"}
	if strings.Join(queries, " ") != strings.Join(want, " ") {
		t.Errorf("queries = %v, want %v", queries, want)
	}
}

// pagesOfProviders is n providers in pages of 100, the later pages answered
// first (page p is held back (pages-p) × 5 ms).
func pagesOfProviders(t *testing.T, n int) *fakeCore {
	core := newFakeCore(t)
	core.providers = testProviders(n)
	pages := (n + 99) / 100
	core.pageDelay = func(page int) time.Duration { return time.Duration(pages-page) * 5 * time.Millisecond }
	core.pageStatus = map[int]int{}
	return core
}

// The pages after the first are fetched a few at a time, with exactly the
// requests of a page-by-page walk, and arrive in the core's order whatever
// order they complete in.
func TestClientProvidersPagesAheadInOrder(t *testing.T) {
	core := pagesOfProviders(t, 1050)
	core.start("127.0.0.1:0")
	c := NewClient(testEnv(t, core.url(), fakeToken), "2026.2.2", "abc")
	got, err := c.ProxyProviders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1050 {
		t.Fatalf("got %d providers, want 1050", len(got))
	}
	for i, p := range got {
		if p.PK != i+1 {
			t.Fatalf("provider %d has pk %d: out of order", i, p.PK)
		}
	}
	reqs := core.recorded()
	if len(reqs) != 11 {
		t.Fatalf("%d requests, want 11 (one per page)", len(reqs))
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		if r.Method != http.MethodGet || r.Path != "/api/v3/outposts/proxy/" || len(r.Body) != 0 {
			t.Errorf("request %s %s with %d bytes", r.Method, r.Path, len(r.Body))
		}
		seen[r.RawQuery] = true
		// Every page carries the headers of page 1, which the walk fetched
		// by itself before any page was fetched ahead.
		if fmt.Sprint(r.Header) != fmt.Sprint(reqs[0].Header) {
			t.Errorf("%s: headers %v, page 1 had %v", r.RawQuery, r.Header, reqs[0].Header)
		}
	}
	for page := 1; page <= 11; page++ {
		if q := fmt.Sprintf("page=%d&page_size=100", page); !seen[q] {
			t.Errorf("no request %s", q)
		}
	}
	if reqs[0].RawQuery != "page=1&page_size=100" {
		t.Errorf("first request %s, want page 1", reqs[0].RawQuery)
	}
	h := reqs[0].Header
	if h.Get("Authorization") != "Bearer "+fakeToken || h.Get("User-Agent") != "goauthentik.io/outpost/2026.2.2+abc" || h.Get("Accept") != "application/json" {
		t.Errorf("headers = %v", h)
	}
	core.mu.Lock()
	inFlight := core.maxPagesInFlight
	core.mu.Unlock()
	if inFlight < 2 || inFlight > providerPageFetchers {
		t.Errorf("at most %d pages in flight, want 2..%d", inFlight, providerPageFetchers)
	}
}

// A page that fails fails the whole list, with that page's error, even when
// later pages arrived; nothing partial is returned.
func TestClientProvidersFailingPageFailsAll(t *testing.T) {
	for _, failing := range []int{2, 7, 11} {
		t.Run(fmt.Sprintf("page %d", failing), func(t *testing.T) {
			core := pagesOfProviders(t, 1050)
			core.pageStatus[failing] = http.StatusBadGateway
			core.start("127.0.0.1:0")
			c := NewClient(testEnv(t, core.url(), fakeToken), "1.0.0", "")
			got, err := c.ProxyProviders(context.Background())
			var he *HTTPError
			if !errors.As(err, &he) || he.StatusCode != http.StatusBadGateway || !strings.Contains(he.Body, fmt.Sprintf("page %d", failing)) {
				t.Fatalf("err = %v", err)
			}
			if got != nil {
				t.Errorf("%d providers returned with the error", len(got))
			}
			// Pages after the failed one are not asked for once it failed;
			// at most those already in flight were.
			if n := core.count("/api/v3/outposts/proxy/"); n > 11 {
				t.Errorf("%d requests", n)
			}
		})
	}
	// The first page failing: nothing is fetched ahead.
	core := pagesOfProviders(t, 1050)
	core.pageStatus[1] = http.StatusInternalServerError
	core.start("127.0.0.1:0")
	c := NewClient(testEnv(t, core.url(), fakeToken), "1.0.0", "")
	if got, err := c.ProxyProviders(context.Background()); err == nil || got != nil {
		t.Fatalf("page 1 failed: %d providers, %v", len(got), err)
	}
	if n := core.count("/api/v3/outposts/proxy/"); n != 1 {
		t.Errorf("%d requests after page 1 failed, want 1", n)
	}
}

// When the list changes between requests, the result is still what a
// page-by-page walk along pagination.next gets from the same answers.
func TestClientProvidersListChangesWhileFetching(t *testing.T) {
	honest := func(page, total int) Pagination {
		p := Pagination{Current: page, TotalPages: total, Count: 500}
		if page < total {
			p.Next = page + 1
		}
		return p
	}
	cases := []struct {
		name   string
		pg     func(page, total int) Pagination
		status map[int]int
		want   []int // pages whose providers make the result
	}{
		{
			// Page 1 announced 5 pages; page 3 is the last by the time it
			// is asked for, and pages 4 and 5 are gone (404), which the
			// walk never sees.
			name: "shrinks",
			pg: func(page, total int) Pagination {
				p := honest(page, total)
				if page == 3 {
					p.Next = 0
				}
				return p
			},
			status: map[int]int{4: http.StatusNotFound, 5: http.StatusNotFound},
			want:   []int{1, 2, 3},
		},
		{
			// Page 1 announced 3 pages; page 3 names a page 4, and so on.
			name: "grows",
			pg: func(page, total int) Pagination {
				p := honest(page, total)
				if page == 1 {
					p.TotalPages = 3
				}
				return p
			},
			want: []int{1, 2, 3, 4, 5},
		},
		{
			// Page 2 names page 4 as its next: page 3 is not part of it.
			name: "skips",
			pg: func(page, total int) Pagination {
				p := honest(page, total)
				if page == 2 {
					p.Next = 4
				}
				return p
			},
			want: []int{1, 2, 4, 5},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			core := pagesOfProviders(t, 500)
			core.pagination = tc.pg
			for page, status := range tc.status {
				core.pageStatus[page] = status
			}
			core.start("127.0.0.1:0")
			c := NewClient(testEnv(t, core.url(), fakeToken), "1.0.0", "")
			got, err := c.ProxyProviders(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var want []int
			for _, page := range tc.want {
				for pk := (page-1)*100 + 1; pk <= page*100; pk++ {
					want = append(want, pk)
				}
			}
			pks := make([]int, len(got))
			for i, p := range got {
				pks[i] = p.PK
			}
			if !slices.Equal(pks, want) {
				t.Errorf("got %d providers (first %v), want pages %v", len(pks), pks[:min(3, len(pks))], tc.want)
			}
		})
	}
}

// Cancelling stops the fetch, the pages fetched ahead included.
func TestClientProvidersCancelled(t *testing.T) {
	core := pagesOfProviders(t, 1050)
	core.pageDelay = func(page int) time.Duration {
		if page == 1 {
			return 0
		}
		return time.Minute
	}
	core.start("127.0.0.1:0")
	c := NewClient(testEnv(t, core.url(), fakeToken), "1.0.0", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.ProxyProviders(ctx)
		done <- err
	}()
	eventually(t, 10*time.Second, "pages fetched ahead", func() bool {
		core.mu.Lock()
		defer core.mu.Unlock()
		return core.pagesInFlight == providerPageFetchers
	})
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ProxyProviders did not return after cancel")
	}
	// Returned only once its fetchers had stopped: no page is in flight
	// on the client's side, so the core sees every request go.
	eventually(t, 10*time.Second, "requests ended", func() bool {
		core.mu.Lock()
		defer core.mu.Unlock()
		return core.pagesInFlight == 0
	})
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
