package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"os"
	"path/filepath"
)

// A fresh process exports every counter with a known, bounded label set at
// 0 before its first event, so rate() alerts and dashboards work from
// start-up; per-host series appear once a configuration names the host.
func TestCountersAtZeroInAFreshProcess(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "providers.yaml")
	if err := os.WriteFile(cfg, []byte(standaloneYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	p := start(t, []string{"AUTHENTIK_LISTEN__HTTP=" + httpAddr, "AUTHENTIK_LISTEN__METRICS=" + metricsAddr}, "--config", cfg)
	p.waitFor(t, "configuration in force", 30*time.Second)
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	for _, series := range []string{
		`outpost_logins_started_total{host="prom.test"}`,
		`outpost_logins_succeeded_total{host="prom.test"}`,
		`outpost_logins_failed_total{host="prom.test",reason="code_exchange"}`,
		`outpost_logins_failed_total{host="prom.test",reason="token_invalid"}`,
		`outpost_token_refreshes_total{host="prom.test",result="failure"}`,
		`outpost_token_refreshes_total{host="prom.test",result="success"}`,
		`outpost_upstream_errors_total{host="prom.test",kind="refused"}`,
		`outpost_upstream_errors_total{host="prom.test",kind="timeout"}`,
		`outpost_session_store_errors_total{op="get"}`,
		`outpost_session_store_errors_total{op="save"}`,
		`outpost_auth_decisions_total{host="prom.test",method="none",result="login_redirect"}`,
		`outpost_auth_decisions_total{host="prom.test",method="session",result="denied"}`,
		`outpost_credentials_rate_limited_total{host="prom.test"}`,
		`outpost_log_lines_dropped_total`,
	} {
		t.Run(series, func(t *testing.T) {
			if !strings.Contains(text, "\n"+series+" 0\n") {
				t.Errorf("not exported at 0:\n%s", grepLines(text, strings.SplitN(series, "{", 2)[0]))
			}
		})
	}
}
