package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	return string(b)
}

func TestControlPlaneSeries(t *testing.T) {
	m := New("11111111-2222-3333-4444-555555555555", "2026.2.2", "abc")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	if body := scrape(t, srv.URL); strings.Contains(body, "authentik_outpost_info{") {
		t.Errorf("info published before the outpost name is known:\n%s", body)
	}
	if !strings.Contains(scrape(t, srv.URL), "go_goroutines") {
		t.Error("Go collector missing")
	}

	m.SetOutpost("edge")
	m.SetConnected(true)
	m.MarkRefreshed(time.Unix(1700000000, 0))
	body := scrape(t, srv.URL)
	for _, want := range []string{
		`authentik_outpost_info{build="abc",outpost_name="edge",outpost_type="proxy",uuid="11111111-2222-3333-4444-555555555555",version="2026.2.2"} 1`,
		`authentik_outpost_last_update{build="abc",outpost_name="edge",outpost_type="proxy",uuid="11111111-2222-3333-4444-555555555555",version="2026.2.2"} 1.7e+09`,
		`authentik_outpost_connection{outpost_name="edge",outpost_type="proxy",uuid="11111111-2222-3333-4444-555555555555"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}

	m.SessionEvictions.Add(2)
	if body := scrape(t, srv.URL); !strings.Contains(body, "outpost_session_evictions_total 2") {
		t.Errorf("evictions not exported:\n%s", body)
	}

	m.SetConnected(false)
	m.SetOutpost("renamed")
	body = scrape(t, srv.URL)
	if strings.Contains(body, `outpost_name="edge"`) {
		t.Error("series for the old outpost name remain")
	}
	if !strings.Contains(body, `authentik_outpost_connection{outpost_name="renamed",outpost_type="proxy",uuid="11111111-2222-3333-4444-555555555555"} 0`) {
		t.Errorf("connection gauge not moved/zeroed:\n%s", body)
	}
}

func TestPingAnyMethod(t *testing.T) {
	srv := httptest.NewServer(New("u", "v", "").Handler())
	defer srv.Close()
	for _, method := range []string{"GET", "HEAD", "POST", "DELETE"} {
		req, _ := http.NewRequest(method, srv.URL+PingPath, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || len(b) != 0 {
			t.Errorf("%s ping: %d %q", method, resp.StatusCode, b)
		}
	}
	resp, err := http.Get(srv.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/other: %d", resp.StatusCode)
	}
}
