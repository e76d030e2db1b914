package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpost-dev/outpost/internal/promtest"
	"github.com/outpost-dev/outpost/internal/webtest"
)

// A real Prometheus (Debian's package) scrapes the running demo, with the
// shipped alert rules loaded; after a scripted sign-in its query API shows
// the sign-in, the decisions and the core link.
func TestPrometheusScrapesTheOutpost(t *testing.T) {
	httpAddr, metricsAddr, coreAddr, upAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	demo := start(t, nil, "demo", "--listen", httpAddr, "--metrics", metricsAddr, "--core", coreAddr, "--upstream", upAddr)
	demo.waitFor(t, "Press Ctrl-C", 60*time.Second)
	rules, err := filepath.Abs("../../deploy/prometheus/outpost-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := promtest.Start(t, []string{metricsAddr}, rules).Addr

	for _, addr := range []string{metricsAddr, httpAddr} {
		if code, body := get(t, "http://"+addr+"/outpost.goauthentik.io/ready", ""); code != 200 {
			t.Errorf("readiness on %s with a configuration loaded: %d %s", addr, code, body)
		}
	}

	// A person signs in to the demo app.
	_, port, _ := net.SplitHostPort(httpAddr)
	app := "http://localhost:" + port
	c := webtest.Browser(t)
	resp := webtest.SignIn(t, c, webtest.Get(t, c, app+"/"), "demo", demoPassword)
	if body := webtest.ReadBody(resp); resp.StatusCode != 200 || !strings.Contains(body, "demo") {
		t.Fatalf("sign-in through the demo: %d\n%s", resp.StatusCode, body)
	}
	if resp := webtest.Get(t, c, app+"/again"); resp.StatusCode != 200 {
		t.Fatalf("second request: %d", resp.StatusCode)
	}

	host := "localhost:" + port
	want := map[string]string{
		`outpost_logins_succeeded_total{host="` + host + `"}`:                                     "1",
		`outpost_auth_decisions_total{host="` + host + `",result="allowed",method="session"}`:     "2",
		`outpost_auth_decisions_total{host="` + host + `",result="login_redirect",method="none"}`: "1",
		`authentik_outpost_connection{outpost_name="demo-outpost"}`:                               "1",
		`outpost_providers{state="loaded"}`:                                                       "1",
		`sum(outpost_sessions_active)`:                                                            "1",
		`up{job="outpost"}`:                                                                       "1",
		`count(authentik_outpost_proxy_request_duration_seconds_bucket{host="` + host + `"}) > 0`: "",
	}
	deadline := time.Now().Add(60 * time.Second)
	for query, value := range want {
		for {
			got, err := promQuery(promAddr, query)
			if err == nil && got != "" && (value == "" || got == value) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Prometheus never answered %s = %q (last: %q, %v)", query, value, got, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// The shipped rules are loaded and healthy in a real Prometheus.
	var rulesResp struct {
		Data struct {
			Groups []struct {
				Rules []struct{ Name, Health string }
			}
		}
	}
	getJSON(t, "http://"+promAddr+"/api/v1/rules", &rulesResp)
	n := 0
	for _, g := range rulesResp.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health == "err" {
				t.Errorf("rule %s fails to evaluate", r.Name)
			}
		}
	}
	if n < 7 {
		t.Errorf("Prometheus loaded %d rules, want the 7 shipped", n)
	}
}

// promQuery runs an instant query and returns the first sample's value, or
// "" when the result is empty.
func promQuery(addr, query string) (string, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	if out.Status != "success" {
		return "", fmt.Errorf("query %s: %s", query, out.Error)
	}
	if len(out.Data.Result) == 0 {
		return "", nil
	}
	v, _ := out.Data.Result[0].Value[1].(string)
	return v, nil
}

func getJSON(t *testing.T, u string, into any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatal(err)
	}
}
