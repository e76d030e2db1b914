package devcore

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// manyProvidersYAML has outpost A with n providers (assigned in reverse, so
// that ordering is the server's doing) and outpost B with two of them.
func manyProvidersYAML(n int, secretSuffix string) string {
	var y strings.Builder
	y.WriteString("outposts:\n  - pk: " + pkA + "\n    name: big\n    token: " + tokenA + "\n    config: {log_level: debug}\n    providers:\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&y, "      - p%04d\n", i)
	}
	y.WriteString("  - pk: " + pkB + "\n    name: small\n    token: " + tokenB + "\n    providers: [p0001, p0002]\n")
	y.WriteString("providers:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - {name: p%04d, pk: %d, external_host: 'https://p%04d.example.com', internal_host: 'http://up', client_id: c%04d, client_secret: s0123456789abcdef0123456789abcdef%s, cookie_secret: k0123456789abcdef, skip_path_regex: \"^/a/\\n^/b/\"}\n",
			i, 1000-i, i, i, secretSuffix)
	}
	return y.String()
}

type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

func apiRequest(t *testing.T, s *Server, method, target, token, proto string) apiResponse {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if proto != "" {
		req.Header.Set("X-Forwarded-Proto", proto)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return apiResponse{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// listRequests are list requests an outpost or a person might make: the
// pages an outpost fetches, DRF's other pagination forms, filters, orderings
// and pages that do not exist.
var listRequests = func() []string {
	var out []string
	queries := []string{"", "?page=1&page_size=100", "?page_size=100&page=2", "?page=3&page_size=100", "?page=4&page_size=100",
		"?page=last", "?page_size=7&page=5", "?page_size=0", "?page_size=abc", "?page=abc", "?ordering=-name",
		"?ordering=pk&page=2", "?ordering=-pk", "?name=p0002", "?search=P01", "?search=p1&page=2&page_size=5", "?page=1&page=2"}
	for _, path := range []string{"/api/v3/outposts/proxy/", "/api/v3/outposts/instances/"} {
		for _, q := range queries {
			out = append(out, path+q)
		}
	}
	return out
}()

// TestListCacheAnswersAsRendering: a response from the cache is the
// response rendered afresh, byte for byte and header for header, for every
// outpost, base URL and query; after a configuration change (warmed or
// not) it is the new configuration's.
func TestListCacheAnswersAsRendering(t *testing.T) {
	s, err := New(mustParse(t, manyProvidersYAML(250, "")), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	check := func(y, pass string) {
		t.Helper()
		// fresh renders every response anew: a server of its own whose
		// cache is emptied before each request.
		f, err := New(mustParse(t, y), Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fresh := func(method, target, token, proto string) apiResponse {
			f.ctl.lists.reset(nil)
			f.ctl.lists.reset(f.config())
			return apiRequest(t, f, method, target, token, proto)
		}
		for _, target := range listRequests {
			for _, host := range []string{"http://core.example:8000", "http://127.0.0.1:9000"} {
				for _, token := range []string{tokenA, tokenB} {
					for _, proto := range []string{"", "https"} {
						for _, method := range []string{http.MethodGet, http.MethodHead} {
							got := apiRequest(t, s, method, host+target, token, proto)
							want := fresh(method, host+target, token, proto)
							if got.status != want.status || !bytes.Equal(got.body, want.body) || fmt.Sprint(got.header) != fmt.Sprint(want.header) {
								t.Fatalf("%s: %s %s%s (proto %q): cached %d %v %.200s\nwant %d %v %.200s",
									pass, method, host, target, proto, got.status, got.header, got.body, want.status, want.header, want.body)
							}
						}
					}
				}
			}
		}
	}
	y1 := manyProvidersYAML(250, "")
	check(y1, "first fill")
	check(y1, "from the cache")
	// A changed secret must show at once, from warmed pages and others.
	y2 := manyProvidersYAML(250, "-rotated")
	if err := s.SetConfig(mustParse(t, y2)); err != nil {
		t.Fatal(err)
	}
	check(y2, "just after a change")
	check(y2, "after a change, from the cache")
	// Fewer providers: pages that existed are now 404.
	y3 := manyProvidersYAML(120, "")
	if err := s.SetConfig(mustParse(t, y3)); err != nil {
		t.Fatal(err)
	}
	check(y3, "after shrinking")
}

// TestListCacheWarmsAfterAChange: after a configuration change, the pages
// a refresh fetches are rendered before anyone asks, for the base URL the
// outpost uses; other queries are not.
func TestListCacheWarmsAfterAChange(t *testing.T) {
	s, err := New(mustParse(t, manyProvidersYAML(3, "")), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	apiRequest(t, s, http.MethodGet, "http://core.example:8000/api/v3/outposts/proxy/?page=1&page_size=100", tokenA, "")
	next := mustParse(t, manyProvidersYAML(250, ""))
	if err := s.SetConfig(next); err != nil {
		t.Fatal(err)
	}
	const base = "http://core.example:8000"
	want := []listKey{
		{path: pathOutposts, outpost: pkA, base: base},
		{path: pathOutposts, outpost: pkB, base: base},
		{path: pathProxyProviders, outpost: pkB, base: base, query: "page=1&page_size=100"},
	}
	for page := 1; page <= 3; page++ {
		want = append(want, listKey{path: pathProxyProviders, outpost: pkA, base: base, query: fmt.Sprintf("page=%d&page_size=100", page)})
	}
	lc := &s.ctl.lists
	deadline := time.Now().Add(10 * time.Second)
	for _, k := range want {
		for {
			if _, _, ok := lc.get(next, k); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%+v not warmed", k)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	lc.mu.Lock()
	n := len(lc.entries)
	lc.mu.Unlock()
	if n != len(want) {
		t.Errorf("%d entries warmed, want %d", n, len(want))
	}
	// And the warmed page is what the outpost gets.
	got := apiRequest(t, s, http.MethodGet, base+"/api/v3/outposts/proxy/?page=3&page_size=100", tokenA, "")
	_, body, _ := lc.get(next, want[len(want)-1])
	if got.status != 200 || !bytes.Equal(got.body, body) || !bytes.Contains(body, []byte(`"name":"p0249"`)) {
		t.Errorf("page 3: %d %.200s", got.status, got.body)
	}
}

// TestListCacheIsBounded: queries nobody repeats cannot grow the cache
// without limit, and answers past the limit are still right.
func TestListCacheIsBounded(t *testing.T) {
	s, err := New(mustParse(t, manyProvidersYAML(3, "")), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for i := range maxListEntries + 50 {
		r := apiRequest(t, s, http.MethodGet, fmt.Sprintf("http://core/api/v3/outposts/proxy/?search=p00&x=%d", i), tokenA, "")
		if r.status != 200 || !bytes.Contains(r.body, []byte(`"count":3`)) {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	lc := &s.ctl.lists
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if len(lc.entries) != maxListEntries {
		t.Errorf("%d entries, want the cap %d", len(lc.entries), maxListEntries)
	}
}

// BenchmarkProviderPage is one page of 100 out of 1,000 providers, rendered
// (the first request after a change, without warming) and from the cache.
func BenchmarkProviderPage(b *testing.B) {
	s, err := New(mustParse(b, manyProvidersYAML(1000, "")), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	const target = "http://core.example:8000/api/v3/outposts/proxy/?page=5&page_size=100"
	serve := func() {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer "+tokenA)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
	b.Run("rendered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.ctl.lists.reset(nil)
			s.ctl.lists.reset(s.config())
			serve()
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve()
		}
	})
}
