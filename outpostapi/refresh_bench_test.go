package outpostapi_test

// Benchmarks of what a refresh with 1,000 providers costs before the data
// plane is built (issue 10's configuration swap): the fetch from a devcore
// over loopback, decoding a page, validating. Besides ns/op they report
// cpu-ns/op, the process's CPU time per operation (all threads, GC
// included), which stays meaningful on a machine shared with other work.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/outpost-dev/outpost/internal/config"
	"github.com/outpost-dev/outpost/internal/devcore"
	"github.com/outpost-dev/outpost/outpostapi"
)

// benchCore is a devcore serving n providers like bench/harness writes
// them (proxy mode, one skip_path_regex line) to the outpost dcToken.
func benchCore(b *testing.B, n int) (*devcore.Server, *outpostapi.Client) {
	b.Helper()
	var y strings.Builder
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("p%04d", i+1)
	}
	fmt.Fprintf(&y, "outposts:\n  - pk: %s\n    name: bench\n    token: %s\n    providers: [%s]\nproviders:\n", dcPK, dcToken, strings.Join(names, ", "))
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&y, `  - name: p%04d
    external_host: http://p%04d.bench.test
    internal_host: http://127.0.0.1:9
    client_id: p%04d-client
    client_secret: p%04d-client-secret-0123456789abcdef0123456789
    cookie_secret: p%04d-cookie-secret-0123456789abcdef
    skip_path_regex: |
      ^/public/
`, i, i, i, i, i)
	}
	cfg, err := devcore.ParseConfig([]byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	s, err := devcore.New(cfg, devcore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(context.Background(), ln)
	b.Cleanup(func() { s.Close() })
	vars := map[string]string{"AUTHENTIK_HOST": "http://" + ln.Addr().String(), "AUTHENTIK_TOKEN": dcToken}
	env, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, true)
	if err != nil {
		b.Fatal(err)
	}
	c := outpostapi.NewClient(env.Core, "1.0.0", "")
	b.Cleanup(c.CloseIdleConnections)
	return s, c
}

func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// loop runs f as the benchmark's body and reports cpu-ns/op.
func loop(b *testing.B, f func()) {
	b.ReportAllocs()
	c0, n := processCPU(), 0
	for b.Loop() {
		f()
		n++
	}
	b.ReportMetric(float64(processCPU()-c0)/float64(n), "cpu-ns/op")
}

// BenchmarkProxyProviders is fetching 1,000 providers (10 pages) from a
// devcore over loopback; the devcore's work is in the numbers too.
func BenchmarkProxyProviders(b *testing.B) {
	_, c := benchCore(b, 1000)
	loop(b, func() {
		cfgs, err := c.ProxyProviders(context.Background())
		if err != nil || len(cfgs) != 1000 {
			b.Fatal(len(cfgs), err)
		}
	})
}

// BenchmarkDecodeProviderPage is decoding one page of 100 providers.
func BenchmarkDecodeProviderPage(b *testing.B) {
	s, _ := benchCore(b, 1000)
	req := httptest.NewRequest(http.MethodGet, "http://core.test/api/v3/outposts/proxy/?page=5&page_size=100", nil)
	req.Header.Set("Authorization", "Bearer "+dcToken)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	b.SetBytes(int64(len(body)))
	loop(b, func() {
		var p outpostapi.Paginated[outpostapi.ProxyOutpostConfig]
		if err := json.Unmarshal(body, &p); err != nil || len(p.Results) != 100 {
			b.Fatal(err)
		}
	})
}

// BenchmarkValidateProviders is validating 1,000 providers one by one, as
// the static source does (a refresh from a core reuses compiled
// skip_path_regex values).
func BenchmarkValidateProviders(b *testing.B) {
	_, c := benchCore(b, 1000)
	cfgs, err := c.ProxyProviders(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	loop(b, func() {
		for _, c := range cfgs {
			if _, perr := outpostapi.ValidateProvider(c, ""); perr != nil {
				b.Fatal(perr)
			}
		}
	})
}
