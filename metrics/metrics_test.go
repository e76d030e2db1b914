package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
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
	srv := httptest.NewServer(m.Handler(func() (bool, string) { return true, "" }, nil))
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

func TestPingAnyMethodAndReadiness(t *testing.T) {
	var ready atomic.Bool
	var note atomic.Value
	note.Store("")
	srv := httptest.NewServer(New("u", "v", "").Handler(func() (bool, string) { return ready.Load(), note.Load().(string) }, nil))
	defer srv.Close()
	status := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := status(ReadyPath); code != http.StatusServiceUnavailable {
		t.Errorf("ready before any configuration: %d, want 503", code)
	}
	ready.Store(true)
	if code := status(ReadyPath); code != http.StatusOK {
		t.Errorf("ready after configuration: %d, want 200", code)
	}
	// A failed reload leaves the last good configuration serving: still
	// ready, and the body says what failed.
	note.Store("the last configuration reload failed")
	resp, err := http.Get(srv.URL + ReadyPath)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "ready; the last configuration reload failed\n" {
		t.Errorf("ready after a failed reload: %d %q", resp.StatusCode, b)
	}
	for _, method := range []string{"GET", "HEAD", "POST", "DELETE"} {
		t.Run(method, func(t *testing.T) {
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
		})
	}
	resp, err = http.Get(srv.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/other: %d", resp.StatusCode)
	}
}

func TestCoreLinkAndBuildSeries(t *testing.T) {
	m := New("u", "1.2.3", "abc123")
	srv := httptest.NewServer(m.Handler(nil, nil))
	defer srv.Close()
	m.SetOutpost("edge")
	m.SetConnected(true) // first connection: not a reconnect
	m.SetConnected(false)
	m.SetConnected(true)
	m.SetConnected(true) // still up: not a reconnect
	m.RefreshResult(errors.New("core said 500"), time.Now())
	m.RefreshResult(nil, time.Unix(1800000000, 0))
	m.SetProviders(3, 1)
	m.WatchSessions("memory", func() (int, error) { return 42, nil })
	body := scrape(t, srv.URL)
	for _, want := range []string{
		"outpost_core_reconnects_total 1",
		"outpost_config_refresh_failures_total 1",
		"outpost_config_last_success_timestamp_seconds 1.8e+09",
		`outpost_providers{state="loaded"} 3`,
		`outpost_providers{state="rejected"} 1`,
		`outpost_sessions_active{store="memory"} 42`,
		`outpost_build_info{goversion="` + runtime.Version() + `",revision="abc123",version="1.2.3"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %s in\n%s", want, body)
		}
	}
}

func TestLabelsAreBounded(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "PROPFIND": "other", "get": "other", "": "other", "BREW\x00": "other"} {
		t.Run(in, func(t *testing.T) {
			if got := Method(in); got != want {
				t.Errorf("Method(%q) = %q, want %q", in, got, want)
			}
		})
	}
	for in, want := range map[int]string{200: "2xx", 101: "1xx", 302: "3xx", 499: "4xx", 503: "5xx", 0: "other", 999: "other"} {
		t.Run(strconv.Itoa(in), func(t *testing.T) {
			if got := statusClass(in); got != want {
				t.Errorf("statusClass(%d) = %q, want %q", in, got, want)
			}
		})
	}
}
