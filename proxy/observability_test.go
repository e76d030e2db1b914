package proxy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/outpost-dev/outpost/internal/proctest"
	"github.com/outpost-dev/outpost/metrics"
	"github.com/outpost-dev/outpost/outpostapi"
	"github.com/outpost-dev/outpost/proxy"
)

// accessLines are the "request" lines of a JSON log.
func accessLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		if line["msg"] == "request" {
			out = append(out, line)
		}
	}
	return out
}

// scrapeText is the registry in Prometheus' text format.
func scrapeText(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler(nil, nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// sample is the value of one series in a scrape, or -1 when it is absent.
func sample(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// A person signs in and reads a page. The access log names them and the
// decision, and nowhere holds their cookie, token, code or state; the
// metrics count the sign-in and the decisions under the configured host.
func TestAccessLogAndMetricsOfASignIn(t *testing.T) {
	var logs proctest.Buffer
	m := metrics.New("uuid", "0.1.0", "")
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid, email, profile, entitlements, ak_proxy]",
		log: slog.New(slog.NewJSONHandler(&logs, nil)), metrics: m.Proxy})
	c := browser(t)
	var visited []*url.URL
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		visited = append(visited, req.URL)
		return nil
	}
	resp := signIn(t, c, getPage(t, c, st.outpost+"/private?page=2"), "alice", "alice-pw")
	if body := readBody(resp); resp.StatusCode != 200 || !strings.Contains(body, `as "alice"`) {
		t.Fatalf("sign-in did not reach the app: %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Request-Id"); got == "" {
		t.Error("no X-Request-Id on the answer")
	}
	if resp := getPage(t, c, st.outpost+"/second"); resp.StatusCode != 200 {
		t.Fatalf("second page: %d", resp.StatusCode)
	}
	api, _ := http.NewRequest("GET", st.outpost+"/api", nil)
	api.Header.Set("Accept", "application/json")
	if resp, err := http.DefaultClient.Do(api); err != nil || resp.StatusCode != 401 {
		t.Fatalf("API client without session: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	var code, state string
	for _, u := range visited {
		if u.Path == "/outpost.goauthentik.io/callback" {
			code, state = u.Query().Get("code"), u.Query().Get("state")
		}
	}
	if code == "" || state == "" {
		t.Fatalf("no callback among the redirects: %v", visited)
	}
	host := strings.TrimPrefix(st.outpost, "http://")
	secrets := map[string]string{
		"session cookie":        sessionCookie(t, c, st.outpost).Value,
		"access token (jwt)":    st.lastUpstream(t).Header.Get("X-Authentik-Jwt"),
		"authorization code":    code,
		"state":                 state,
		"login attempt cookie ": "_login=",
	}
	log := logs.String()
	for what, secret := range secrets {
		if secret == "" {
			t.Fatalf("test setup: no %s to look for", what)
		}
		if strings.Contains(log, secret) {
			t.Errorf("the log holds the %s", what)
		}
	}

	lines := accessLines(t, log)
	find := func(path, decision string) map[string]any {
		t.Helper()
		for _, l := range lines {
			if l["path"] == path && (decision == "" || l["decision"] == decision) {
				return l
			}
		}
		t.Fatalf("no access line for %s %s in\n%s", path, decision, log)
		return nil
	}
	signedIn := find("/private", "allowed")
	for k, want := range map[string]any{
		"user": "alice", "auth_method": "session", "provider": "app", "status": float64(200),
		"method": "GET", "host": host, "client_ip": "127.0.0.1", "query": "page=2",
	} {
		if signedIn[k] != want {
			t.Errorf("signed-in access line: %s = %v, want %v (%v)", k, signedIn[k], want, signedIn)
		}
	}
	if id, _ := signedIn["request_id"].(string); len(id) != 16 {
		t.Errorf("request_id %q", signedIn["request_id"])
	}
	if _, ok := signedIn["duration_ms"].(float64); !ok {
		t.Errorf("no duration_ms: %v", signedIn)
	}
	before := find("/private", "login_redirect")
	if before["status"] != float64(302) || before["user"] != nil {
		t.Errorf("signed-out access line: %v", before)
	}
	if l := find("/api", "unauthorized"); l["status"] != float64(401) {
		t.Errorf("API access line: %v", l)
	}
	cb := find("/outpost.goauthentik.io/callback", "")
	if q, _ := cb["query"].(string); !strings.Contains(q, "code=[redacted]") || !strings.Contains(q, "state=[redacted]") {
		t.Errorf("callback query not redacted: %q", q)
	}

	text := scrapeText(t, m)
	for series, want := range map[string]float64{
		fmt.Sprintf(`outpost_logins_started_total{host=%q}`, host):                                       1,
		fmt.Sprintf(`outpost_logins_succeeded_total{host=%q}`, host):                                     1,
		fmt.Sprintf(`outpost_auth_decisions_total{host=%q,method="session",result="allowed"}`, host):     2,
		fmt.Sprintf(`outpost_auth_decisions_total{host=%q,method="none",result="login_redirect"}`, host): 1,
		fmt.Sprintf(`outpost_auth_decisions_total{host=%q,method="none",result="unauthorized"}`, host):   1,
	} {
		if got := sample(text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if got := sample(text, fmt.Sprintf(`authentik_outpost_proxy_request_duration_seconds_count{host=%q,method="GET",outpost_name="test-outpost",type="app"}`, host)); got < 4 {
		t.Errorf("request duration count %v, want at least 4", got)
	}
	if got := sample(text, fmt.Sprintf(`authentik_outpost_proxy_upstream_response_duration_seconds_count{host=%q,method="GET",outpost_name="test-outpost",scheme="http",upstream_host=%q}`,
		host, strings.TrimPrefix(st.upstreamURL, "http://"))); got != 2 {
		t.Errorf("upstream response count %v, want 2", got)
	}
}

// Anyone can send any Host or X-Forwarded-Host and any method: the number of
// series stays what the configuration makes it.
func TestRandomHostsDoNotGrowSeries(t *testing.T) {
	m := metrics.New("uuid", "0.1.0", "")
	st := newStackWith(t, stackOptions{validity: 600, scopes: "[openid]", metrics: m.Proxy, trusted: true, log: slog.New(slog.DiscardHandler)})
	series := func() int {
		families, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range families {
			if strings.HasPrefix(f.GetName(), "outpost_") || strings.HasPrefix(f.GetName(), "authentik_") {
				n += len(f.GetMetric())
			}
		}
		return n
	}
	methods := []string{"GET", "POST", "PROPFIND", "BREW", "get", "X-" + strings.Repeat("A", 50)}
	request := func(rng *rand.Rand) {
		host := fmt.Sprintf("%x.example.%d", rng.Uint64(), rng.IntN(1000))
		req := httptest.NewRequest(methods[rng.IntN(len(methods))], "http://x/", nil)
		req.Host = host
		req.URL.Path = fmt.Sprintf("/p%d", rng.IntN(1<<20))
		req.RemoteAddr = "127.0.0.1:4000"
		if rng.IntN(2) == 0 {
			req.Header.Set("X-Forwarded-Host", "fwd-"+host)
		}
		req.Header.Set("Accept", []string{"text/html", "application/json"}[rng.IntN(2)])
		st.server.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Warm up: every label value these requests can produce exists after
	// this, so only a leak can add series.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		request(rng)
	}
	before, counted := series(), requestsCounted(t, m)
	const total, workers = 100_000, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w)+10, 3))
			for range total / workers {
				request(rng)
			}
		})
	}
	wg.Wait()
	if after := series(); after != before {
		t.Errorf("series grew from %d to %d after %d requests with random hosts", before, after, total)
	}
	if strings.Contains(scrapeText(t, m), "example.") {
		t.Error("a request's host became a label value")
	}
	if got := requestsCounted(t, m) - counted; got != total {
		t.Errorf("%v requests counted, want %d", got, total)
	}
}

// requestsCounted is the sum of outpost_requests_total over all series.
func requestsCounted(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() == "outpost_requests_total" {
			for _, s := range f.GetMetric() {
				sum += s.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// Readiness follows the configuration: 503 until the first snapshot, then
// 200, on any host; ping is 204 throughout.
func TestReadinessOnMainListener(t *testing.T) {
	srv := proxy.New(proxy.Options{Log: slog.New(slog.DiscardHandler)})
	ask := func(path string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://any.example/"+path, nil)
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := ask("outpost.goauthentik.io/ready"); got != http.StatusServiceUnavailable {
		t.Errorf("ready before configuration: %d", got)
	}
	if got := ask("outpost.goauthentik.io/ping"); got != http.StatusNoContent {
		t.Errorf("ping before configuration: %d", got)
	}
	srv.Update(&outpostapi.Snapshot{Outpost: outpostapi.OutpostInfo{Name: "o"}})
	if got := ask("outpost.goauthentik.io/ready"); got != http.StatusOK {
		t.Errorf("ready after configuration: %d", got)
	}
}
